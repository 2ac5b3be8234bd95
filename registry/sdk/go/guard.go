// Package guard is the mcpg guard SDK for Go >= 1.24 (GOOS=wasip1 GOARCH=wasm,
// -buildmode=c-shared). It provides the ABI exports; a guard implements Guard and calls Register
// from an init function. Standard library only.
package guard

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unsafe"
)

// Labels are the secrecy and integrity tags of an agent, a resource or an item.
type Labels struct {
	Secrecy   []string `json:"secrecy"`
	Integrity []string `json:"integrity"`
}

// Operations a tool call can be.
const (
	Read      = "read"
	Write     = "write"
	ReadWrite = "read-write"
)

// AgentLabels is the answer of LabelAgent.
type AgentLabels struct {
	Agent    Labels `json:"agent"`
	DIFCMode string `json:"difc_mode,omitempty"`
}

// ResourceLabels is the answer of LabelResource.
type ResourceLabels struct {
	Resource struct {
		Description string   `json:"description"`
		Secrecy     []string `json:"secrecy"`
		Integrity   []string `json:"integrity"`
	} `json:"resource"`
	Operation string `json:"operation"`
	// Response is "resource" when the response takes the resource's labels, whatever it holds
	// (set it with WholeResponse); otherwise empty.
	Response string `json:"response,omitempty"`
}

// WholeResponse says the response takes these labels too: mcpg then does not call
// LabelResponse (nor copy the response into the guard). Hosts that do not know it call it
// anyway, so LabelResponse must answer the same (nil).
func (r *ResourceLabels) WholeResponse() *ResourceLabels {
	r.Response = "resource"
	return r
}

// NewResource builds a ResourceLabels answer.
func NewResource(description string, l Labels, operation string) *ResourceLabels {
	r := &ResourceLabels{Operation: operation}
	r.Resource.Description = description
	r.Resource.Secrecy = nonNil(l.Secrecy)
	r.Resource.Integrity = nonNil(l.Integrity)
	return r
}

// LabeledPath labels the item a JSON pointer points to.
type LabeledPath struct {
	Path   string `json:"path"`
	Labels Labels `json:"labels"`
}

// Item is one element of a collection answer, with its own labels.
type Item struct {
	Data   any    `json:"data"`
	Labels Labels `json:"labels"`
}

// ResponseLabels is the answer of LabelResponse; nil means "the resource labels cover it all".
// It is either labels by JSON pointer (LabeledPaths under ItemsPath) or, when Items is set,
// the collection's items themselves (build those with NewItems).
type ResponseLabels struct {
	LabeledPaths  []LabeledPath
	DefaultLabels *Labels
	ItemsPath     string
	Items         []Item
}

// NewItems answers LabelResponse with the collection's items, each with its labels.
func NewItems(items []Item) *ResponseLabels {
	if items == nil {
		items = []Item{}
	}
	return &ResponseLabels{Items: items}
}

// NewLabeledItems answers LabelResponse with labels for every item of the collection at
// itemsPath, item i with each[i]. Written small: the labels most items have once, as
// DefaultLabels, and a labeled path for each item whose labels differ (the gateway gives an item
// with no path the default labels, so this says the same as a path for every item).
func NewLabeledItems(itemsPath string, each []Labels) *ResponseLabels {
	out := &ResponseLabels{ItemsPath: itemsPath, LabeledPaths: []LabeledPath{}}
	if len(each) == 0 {
		return out
	}
	counts := map[string]int{}
	common, best := 0, 0
	keys := make([]string, len(each))
	for i, l := range each {
		// As JSON: two labels are alike when they are written alike (tags may hold any character).
		k, _ := json.Marshal([2][]string{nonNil(l.Secrecy), nonNil(l.Integrity)})
		keys[i] = string(k)
		counts[keys[i]]++
		if counts[keys[i]] > best {
			common, best = i, counts[keys[i]]
		}
	}
	def := Labels{Secrecy: nonNil(each[common].Secrecy), Integrity: nonNil(each[common].Integrity)}
	out.DefaultLabels = &def
	for i, l := range each {
		if keys[i] != keys[common] {
			out.LabeledPaths = append(out.LabeledPaths, LabeledPath{Path: itemsPath + "/" + strconv.Itoa(i), Labels: Labels{Secrecy: nonNil(l.Secrecy), Integrity: nonNil(l.Integrity)}})
		}
	}
	return out
}

// MarshalJSON writes the one ABI shape the answer is: {"items": ...} or {"labeled_paths": ...}.
func (r ResponseLabels) MarshalJSON() ([]byte, error) {
	if r.Items != nil {
		return json.Marshal(struct {
			Items []Item `json:"items"`
		}{r.Items})
	}
	paths := r.LabeledPaths
	if paths == nil {
		paths = []LabeledPath{}
	}
	return json.Marshal(struct {
		LabeledPaths  []LabeledPath `json:"labeled_paths"`
		DefaultLabels *Labels       `json:"default_labels,omitempty"`
		ItemsPath     string        `json:"items_path"`
	}{paths, r.DefaultLabels, r.ItemsPath})
}

// Call is the input of LabelResource and LabelResponse.
type Call struct {
	ToolName   string          `json:"tool_name"`
	ToolArgs   map[string]any  `json:"tool_args"`
	ToolResult json.RawMessage `json:"tool_result,omitempty"`
}

// Required reads a string argument the guard cannot label without. A missing or non-string
// field is an error naming it: returned from LabelResource, the call is denied (fail closed)
// instead of labeled as if the field were "".
func (c Call) Required(key string) (string, error) {
	v, ok := c.ToolArgs[key]
	if !ok {
		return "", fmt.Errorf("%s: missing required field tool_args.%s", c.ToolName, key)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: field tool_args.%s is not a string", c.ToolName, key)
	}
	return s, nil
}

// Guard is what a guard author implements.
type Guard interface {
	LabelAgent(policy json.RawMessage) (*AgentLabels, error)
	LabelResource(call Call) (*ResourceLabels, error)
	LabelResponse(call Call) (*ResponseLabels, error)
}

var registered Guard

// Register installs the guard; call it from an init function.
func Register(g Guard) { registered = g }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func ptrOf(b []byte) int32 {
	if len(b) == 0 {
		return 0
	}
	return int32(uintptr(unsafe.Pointer(&b[0])))
}

// ErrBackend is returned when the gateway refuses or fails a backend call.
var ErrBackend = errors.New("call_backend failed")

// ResultJSON decodes the document of an MCP tool result into v, as the gateway finds it to label
// its items: the first text block when it is a JSON object or array, else the structured content
// when it is an object.
//
// The gateway reads that document with JSON.parse, where keys match exactly; encoding/json
// matches a struct's fields ignoring case, so a document with "items" and "ITEMS" (or "private"
// and "PRIVATE") could have the guard label one member and the gateway deliver another. Such a
// document is refused: ResultJSON panics, and the call is denied (see recovered).
func ResultJSON(result json.RawMessage, v any) error {
	var r map[string]json.RawMessage
	if err := json.Unmarshal(result, &r); err != nil {
		return err
	}
	var content []map[string]json.RawMessage
	var kind, text string
	isText := json.Unmarshal(r["content"], &content) == nil && len(content) > 0 &&
		json.Unmarshal(content[0]["type"], &kind) == nil && kind == "text" && json.Unmarshal(content[0]["text"], &text) == nil
	// The document decoded once as it is (for the case check), then into v.
	var raw []byte
	var doc any
	switch {
	case isText && startsDocument(text) && json.Unmarshal([]byte(text), &doc) == nil:
		raw = []byte(text)
	case len(r["structuredContent"]) > 0 && r["structuredContent"][0] == '{':
		raw = r["structuredContent"]
		if err := json.Unmarshal(raw, &doc); err != nil {
			return err
		}
	default:
		return errors.New("no JSON document: neither a JSON text first nor structured content")
	}
	if key := foldedTwice(doc); key != "" {
		panic(fmt.Sprintf("the tool's JSON has keys that differ only in case (%q): the gateway and the guard would read different members", key))
	}
	return json.Unmarshal(raw, v)
}

// startsDocument tells whether text starts, after JSON's whitespace, with an object or array.
func startsDocument(text string) bool {
	t := strings.TrimLeft(text, " \t\r\n")
	return strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")
}

// foldedTwice is a key of an object in doc that another key of that object equals, letter case
// aside, as encoding/json compares a field's name; "" when there is none.
func foldedTwice(doc any) string {
	switch d := doc.(type) {
	case map[string]any:
		seen := make(map[string]bool, len(d))
		for k, v := range d {
			f := foldedName(k)
			if seen[f] {
				return k
			}
			seen[f] = true
			if key := foldedTwice(v); key != "" {
				return key
			}
		}
	case []any:
		for _, v := range d {
			if key := foldedTwice(v); key != "" {
				return key
			}
		}
	}
	return ""
}

// foldedName maps each rune to the smallest of its case-fold set, as encoding/json folds names.
func foldedName(s string) string {
	var b strings.Builder
	for _, r := range s {
		for {
			f := unicode.SimpleFold(r)
			if f <= r {
				r = f
				break
			}
			r = f
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ---- ABI exports

// Buffers handed to the host stay referenced here until dealloc: Go's GC does not move them.
var pinned = map[int32][]byte{}

//go:wasmexport alloc
func alloc(size int32) int32 {
	b := make([]byte, max(size, 1))
	p := ptrOf(b)
	pinned[p] = b
	return p
}

//go:wasmexport dealloc
func dealloc(ptr, size int32) { delete(pinned, ptr) }

func bytesAt(ptr, length int32) []byte {
	// unsafe.Add from nil, not a uintptr conversion: ptr is an address in linear memory the host
	// handed over, which go vet cannot know.
	return unsafe.Slice((*byte)(unsafe.Add(nil, ptr)), length)
}

func answer(v any, err error, isNil bool, outPtr, outSize int32) int32 {
	if err != nil {
		Log(3, err.Error())
		return -1
	}
	if isNil {
		return 0
	}
	b, err := json.Marshal(v)
	if err != nil {
		Log(3, err.Error())
		return -1
	}
	if int32(len(b)) > outSize {
		if outSize >= 4 {
			out := bytesAt(outPtr, 4)
			n := uint32(len(b))
			out[0], out[1], out[2], out[3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
		}
		return -2
	}
	copy(bytesAt(outPtr, outSize), b)
	return int32(len(b))
}

// recovered turns a panic in the guard into an error answer (-1) with its message in the log:
// mcpg then denies that one call instead of losing the instance to a trap.
func recovered(rc *int32) {
	if p := recover(); p != nil {
		Log(3, fmt.Sprintf("panic: %v", p))
		*rc = -1
	}
}

//go:wasmexport label_agent
func labelAgent(inPtr, inLen, outPtr, outSize int32) (rc int32) {
	defer recovered(&rc)
	policy := json.RawMessage(append([]byte(nil), bytesAt(inPtr, inLen)...))
	r, err := registered.LabelAgent(policy)
	return answer(r, err, r == nil, outPtr, outSize)
}

func decodeCall(inPtr, inLen int32) (Call, error) {
	var c Call
	err := json.Unmarshal(bytesAt(inPtr, inLen), &c)
	return c, err
}

//go:wasmexport label_resource
func labelResource(inPtr, inLen, outPtr, outSize int32) (rc int32) {
	defer recovered(&rc)
	c, err := decodeCall(inPtr, inLen)
	if err != nil {
		return answer(nil, err, false, outPtr, outSize)
	}
	r, err := registered.LabelResource(c)
	return answer(r, err, r == nil, outPtr, outSize)
}

//go:wasmexport label_response
func labelResponse(inPtr, inLen, outPtr, outSize int32) (rc int32) {
	defer recovered(&rc)
	c, err := decodeCall(inPtr, inLen)
	if err != nil {
		return answer(nil, err, false, outPtr, outSize)
	}
	r, err := registered.LabelResponse(c)
	return answer(r, err, r == nil, outPtr, outSize)
}
