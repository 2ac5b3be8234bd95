// Your guard: implement guard.Guard and register it. See mcpg's registry/README.md.
package main

import (
	"encoding/json"
	"strings"

	guard "github.com/mcpg-dev/mcpg/registry/sdk/go"
)

type myGuard struct{}

func (myGuard) LabelAgent(policy json.RawMessage) (*guard.AgentLabels, error) {
	return &guard.AgentLabels{Agent: guard.Labels{Secrecy: []string{}, Integrity: []string{}}}, nil
}

func (myGuard) LabelResource(c guard.Call) (*guard.ResourceLabels, error) {
	// A field the labels depend on: Required's error names it, and returning it denies the call.
	if strings.HasPrefix(c.ToolName, "delete_") {
		id, err := c.Required("id")
		if err != nil {
			return nil, err
		}
		return guard.NewResource(c.ToolName+" "+id, guard.Labels{}, guard.Write), nil
	}
	// One thing read: its response takes these labels whatever it holds (WholeResponse), and mcpg
	// does not call LabelResponse for it, one guard call instead of two. A list is left to
	// LabelResponse, which may label its items one by one.
	if strings.HasPrefix(c.ToolName, "get_") {
		return guard.NewResource(c.ToolName, guard.Labels{}, guard.Read).WholeResponse(), nil
	}
	if strings.HasPrefix(c.ToolName, "list_") {
		return guard.NewResource(c.ToolName, guard.Labels{}, guard.Read), nil
	}
	return guard.NewResource(c.ToolName, guard.Labels{}, guard.Write), nil
}

func (myGuard) LabelResponse(c guard.Call) (*guard.ResponseLabels, error) { return nil, nil }

func init() { guard.Register(myGuard{}) }

func main() {}
