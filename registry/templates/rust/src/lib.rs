//! Your guard: implement mcpg_guard::Guard and export it. See mcpg's registry/README.md.
use mcpg_guard::{export_guard, AgentLabels, Call, Guard, Labels, ResourceLabels, ResponseLabels, Value, READ, WRITE};

#[derive(Default)]
struct MyGuard;

impl Guard for MyGuard {
    fn label_agent(&mut self, _policy: &Value) -> Result<AgentLabels, String> {
        Ok(AgentLabels { agent: Labels::default(), difc_mode: None })
    }

    fn label_resource(&mut self, call: &Call) -> Result<ResourceLabels, String> {
        // A field the labels depend on: `required` is an Err naming it, and `?` denies the call.
        if call.tool_name.starts_with("delete_") {
            let what = format!("{} {}", call.tool_name, call.required("id")?);
            return Ok(ResourceLabels::new(&what, Labels::default(), WRITE));
        }
        // One thing read: its response takes these labels whatever it holds (`whole_response`), and
        // mcpg does not call label_response for it, one guard call instead of two. A list is left
        // to label_response, which may label its items one by one.
        if call.tool_name.starts_with("get_") {
            return Ok(ResourceLabels::new(&call.tool_name, Labels::default(), READ).whole_response());
        }
        let read = call.tool_name.starts_with("list_");
        Ok(ResourceLabels::new(&call.tool_name, Labels::default(), if read { READ } else { WRITE }))
    }

    fn label_response(&mut self, _call: &Call) -> Result<Option<ResponseLabels>, String> {
        Ok(None)
    }
}

export_guard!(MyGuard, MyGuard::default());

// Native tests of the guard: `cargo test` calls its methods directly (the SDK's `fake` module
// stands in for the gateway: `mcpg_guard::fake::backend(...)` answers `call_backend`).
#[cfg(test)]
mod tests {
    use super::*;
    use mcpg_guard::json;

    fn call(tool: &str, args: Value) -> Call {
        Call { tool_name: tool.to_string(), tool_args: args, ..Call::default() }
    }

    #[test]
    fn reads_and_writes() {
        assert_eq!(MyGuard.label_resource(&call("get_weather", json!({}))).unwrap().operation, READ);
        assert_eq!(MyGuard.label_resource(&call("echo", json!({}))).unwrap().operation, WRITE);
    }

    #[test]
    fn a_delete_without_its_id_is_denied() {
        let err = MyGuard.label_resource(&call("delete_forecast", json!({}))).unwrap_err();
        assert!(err.contains("tool_args.id"), "{}", err);
    }
}
