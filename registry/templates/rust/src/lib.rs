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
        let read = call.tool_name.starts_with("get_") || call.tool_name.starts_with("list_");
        Ok(ResourceLabels::new(&call.tool_name, Labels::default(), if read { READ } else { WRITE }))
    }

    fn label_response(&mut self, _call: &Call) -> Result<Option<ResponseLabels>, String> {
        Ok(None)
    }
}

export_guard!(MyGuard, MyGuard::default());
