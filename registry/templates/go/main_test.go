// Native tests of the guard: `go test ./...` calls its methods directly (the SDK's host stubs
// stand in for the gateway; set guard.FakeBackend for call_backend answers).
package main

import (
	"strings"
	"testing"

	guard "github.com/mcpg-dev/mcpg/registry/sdk/go"
)

func TestReadsAndWrites(t *testing.T) {
	r, err := myGuard{}.LabelResource(guard.Call{ToolName: "get_weather"})
	if err != nil || r.Operation != guard.Read {
		t.Errorf("get_weather: %+v, %v", r, err)
	}
	r, err = myGuard{}.LabelResource(guard.Call{ToolName: "echo"})
	if err != nil || r.Operation != guard.Write {
		t.Errorf("echo: %+v, %v", r, err)
	}
}

func TestADeleteWithoutItsIDIsDenied(t *testing.T) {
	_, err := myGuard{}.LabelResource(guard.Call{ToolName: "delete_forecast", ToolArgs: map[string]any{}})
	if err == nil || !strings.Contains(err.Error(), "tool_args.id") {
		t.Errorf("got %v, want an error naming tool_args.id", err)
	}
}
