//go:build !wasm

package guard

// Native builds (go test, go vet on the author's machine): no gateway, so CallBackend answers
// from FakeBackend and Log writes to stderr. A guard's tests call its methods directly.

import (
	"encoding/json"
	"fmt"
	"os"
)

// FakeBackend answers CallBackend in native tests; nil answers every call with ErrBackend,
// as the gateway does for a call it refuses.
var FakeBackend func(tool string, args json.RawMessage) (json.RawMessage, error)

// Log writes to stderr in native tests: 0 debug, 1 info, 2 warn, 3 error.
func Log(level int32, message string) {
	fmt.Fprintf(os.Stderr, "guard log %d: %s\n", level, message)
}

// CallBackend calls FakeBackend with the JSON arguments, as the gateway would call the backend.
func CallBackend(tool string, args any) (json.RawMessage, error) {
	a, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	if FakeBackend == nil {
		return nil, ErrBackend
	}
	return FakeBackend(tool, a)
}
