//go:build wasm

package guard

// The host functions mcpg gives a guard, and the SDK calls over them.

import "encoding/json"

//go:wasmimport env call_backend
func callBackend(toolPtr, toolLen, argsPtr, argsLen, resPtr, resSize int32) int32

//go:wasmimport env host_log
func hostLog(level, ptr, length int32)

// Log writes to the gateway's log: 0 debug, 1 info, 2 warn, 3 error.
func Log(level int32, message string) {
	b := []byte(message)
	hostLog(level, ptrOf(b), int32(len(b)))
}

// CallBackend calls a tool on the guard's own backend and returns its MCP result.
func CallBackend(tool string, args any) (json.RawMessage, error) {
	t := []byte(tool)
	a, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	size := int32(64 * 1024)
	for attempt := 0; attempt < 4; attempt++ {
		res := make([]byte, size)
		n := callBackend(ptrOf(t), int32(len(t)), ptrOf(a), int32(len(a)), ptrOf(res), size)
		if n >= 0 {
			return json.RawMessage(res[:n]), nil
		}
		if n != -2 {
			return nil, ErrBackend
		}
		size = int32(uint32(res[0]) | uint32(res[1])<<8 | uint32(res[2])<<16 | uint32(res[3])<<24)
	}
	return nil, ErrBackend
}
