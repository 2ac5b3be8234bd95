//go:build !wasm

package guard

import (
	"encoding/json"
	"strings"
	"testing"
)

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestResponseLabelsIsOneABIShape(t *testing.T) {
	items := NewItems([]Item{{Data: map[string]any{"n": 1}, Labels: Labels{Secrecy: []string{"s"}, Integrity: []string{}}}})
	if got, want := marshal(t, items), `{"items":[{"data":{"n":1},"labels":{"secrecy":["s"],"integrity":[]}}]}`; got != want {
		t.Errorf("items: got %s, want %s", got, want)
	}
	if got, want := marshal(t, &ResponseLabels{ItemsPath: "/items"}), `{"labeled_paths":[],"items_path":"/items"}`; got != want {
		t.Errorf("paths: got %s, want %s", got, want)
	}
}

func TestLabeledItemsSaysTheCommonLabelsOnce(t *testing.T) {
	pub := Labels{Integrity: []string{"contributor"}}
	each := []Labels{{Secrecy: []string{"private:o/a"}, Integrity: []string{"contributor"}}, pub, {Secrecy: []string{}, Integrity: []string{"contributor"}}, {Secrecy: []string{"x", "y"}}, pub}
	want := `{"labeled_paths":[{"path":"/items/0","labels":{"secrecy":["private:o/a"],"integrity":["contributor"]}},{"path":"/items/3","labels":{"secrecy":["x","y"],"integrity":[]}}],"default_labels":{"secrecy":[],"integrity":["contributor"]},"items_path":"/items"}`
	if got := marshal(t, NewLabeledItems("/items", each)); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// Tags that would read alike joined with a separator are different labels.
	odd := []Labels{{Secrecy: []string{"a\x00b"}}, {Secrecy: []string{"a", "b"}}, {Secrecy: []string{"a", "b"}}}
	if got, want := marshal(t, NewLabeledItems("", odd)), `{"labeled_paths":[{"path":"/0","labels":{"secrecy":["a\u0000b"],"integrity":[]}}],"default_labels":{"secrecy":["a","b"],"integrity":[]},"items_path":""}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got, want := marshal(t, NewLabeledItems("/items", nil)), `{"labeled_paths":[],"items_path":"/items"}`; got != want {
		t.Errorf("none: got %s, want %s", got, want)
	}
}

func TestRequiredNamesTheField(t *testing.T) {
	c := Call{ToolName: "get_file", ToolArgs: map[string]any{"path": "a", "n": 2.0}}
	if v, err := c.Required("path"); err != nil || v != "a" {
		t.Errorf("path: %q, %v", v, err)
	}
	if _, err := c.Required("owner"); err == nil || !strings.Contains(err.Error(), "tool_args.owner") {
		t.Errorf("a missing field: %v", err)
	}
	if _, err := c.Required("n"); err == nil || !strings.Contains(err.Error(), "not a string") {
		t.Errorf("a number: %v", err)
	}
}

func TestCallBackendAsksFakeBackend(t *testing.T) {
	FakeBackend = nil
	if _, err := CallBackend("x", nil); err != ErrBackend {
		t.Errorf("no fake backend: %v", err)
	}
	FakeBackend = func(tool string, args json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(`{"content":[{"type":"text","text":"{\"tool\":\"` + tool + `\",\"args\":` + strings.ReplaceAll(string(args), `"`, `\"`) + `}"}]}`), nil
	}
	defer func() { FakeBackend = nil }()
	res, err := CallBackend("get_repo", map[string]string{"owner": "o"})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tool string            `json:"tool"`
		Args map[string]string `json:"args"`
	}
	if err := ResultJSON(res, &doc); err != nil || doc.Tool != "get_repo" || doc.Args["owner"] != "o" {
		t.Errorf("got %+v, %v", doc, err)
	}
}
