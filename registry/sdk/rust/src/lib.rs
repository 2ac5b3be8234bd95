//! The mcpg guard SDK for Rust (wasm32-wasi; Rust >= 1.63, the Debian toolchain mcpg builds with).
//!
//! A guard implements [`Guard`] and exports it with [`export_guard!`], which writes the ABI's
//! exports (`label_agent`, `label_resource`, `label_response`, `alloc`, `dealloc`). Input the
//! guard cannot read is answered -1 (mcpg denies that call, and only that call); a panic is
//! logged through the gateway before the guard traps (which also costs only that call).

use serde::{Deserialize, Serialize};
pub use serde_json::{json, Value};

/// Secrecy (who may see) and integrity (who vouches) tags.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Labels {
    pub secrecy: Vec<String>,
    pub integrity: Vec<String>,
}

impl Labels {
    pub fn new(secrecy: &[&str], integrity: &[&str]) -> Labels {
        Labels { secrecy: strings(secrecy), integrity: strings(integrity) }
    }
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|t| t.to_string()).collect()
}

pub const READ: &str = "read";
pub const WRITE: &str = "write";
pub const READ_WRITE: &str = "read-write";

/// The answer of `label_agent`.
#[derive(Serialize, Debug)]
pub struct AgentLabels {
    pub agent: Labels,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difc_mode: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct Resource {
    pub description: String,
    pub secrecy: Vec<String>,
    pub integrity: Vec<String>,
}

/// The answer of `label_resource`.
#[derive(Serialize, Debug)]
pub struct ResourceLabels {
    pub resource: Resource,
    pub operation: String,
    /// `Some("resource")` when the response takes the resource's labels, whatever it holds
    /// (set it with `whole_response`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

impl ResourceLabels {
    pub fn new(description: &str, labels: Labels, operation: &str) -> ResourceLabels {
        ResourceLabels {
            resource: Resource { description: description.to_string(), secrecy: labels.secrecy, integrity: labels.integrity },
            operation: operation.to_string(),
            response: None,
        }
    }

    /// The response takes these labels too: mcpg then does not call `label_response` (nor copy
    /// the response into the guard). Hosts that do not know it call it anyway, so
    /// `label_response` must answer the same (`None`).
    pub fn whole_response(mut self) -> ResourceLabels {
        self.response = Some("resource".to_string());
        self
    }
}

#[derive(Serialize, Debug)]
pub struct LabeledPath {
    pub path: String,
    pub labels: Labels,
}

#[derive(Serialize, Debug)]
pub struct Item {
    pub data: Value,
    pub labels: Labels,
}

/// The answer of `label_response`: labels by JSON pointer, or the items themselves.
#[derive(Serialize, Debug)]
#[serde(untagged)]
pub enum ResponseLabels {
    Paths {
        labeled_paths: Vec<LabeledPath>,
        #[serde(skip_serializing_if = "Option::is_none")]
        default_labels: Option<Labels>,
        items_path: String,
    },
    Items { items: Vec<Item> },
}

impl ResponseLabels {
    /// Labels for every item of the collection at `items_path`, item i with `each[i]`. Written
    /// small: the labels most items have once, as `default_labels`, and a labeled path for each
    /// item whose labels differ (the gateway gives an item with no path the default labels, so
    /// this says the same as a path for every item).
    pub fn labeled_items(items_path: &str, each: Vec<Labels>) -> ResponseLabels {
        let mut counts: std::collections::HashMap<&Labels, usize> = std::collections::HashMap::new();
        let mut common: Option<&Labels> = None;
        let mut best = 0;
        for l in &each {
            let c = counts.entry(l).or_insert(0);
            *c += 1;
            if *c > best {
                best = *c;
                common = Some(l);
            }
        }
        let default_labels = common.cloned();
        let labeled_paths = each
            .iter()
            .enumerate()
            .filter(|(_, l)| Some(*l) != default_labels.as_ref())
            .map(|(i, l)| LabeledPath { path: format!("{}/{}", items_path, i), labels: l.clone() })
            .collect();
        ResponseLabels::Paths { labeled_paths, default_labels, items_path: items_path.to_string() }
    }
}

/// The input of `label_resource` and `label_response`.
#[derive(Deserialize, Debug, Default)]
pub struct Call {
    #[serde(default)]
    pub tool_name: String,
    #[serde(default)]
    pub tool_args: Value,
    #[serde(default)]
    pub tool_result: Value,
}

impl Call {
    /// A string argument, or "" (read through this, a missing field is never an address 0).
    pub fn arg(&self, key: &str) -> &str {
        self.tool_args.get(key).and_then(Value::as_str).unwrap_or("")
    }

    /// A string argument the guard cannot label without: missing or not a string, an `Err`
    /// naming the field, so `?` denies the call (fail closed) instead of labeling it as "".
    pub fn required(&self, key: &str) -> Result<&str, String> {
        match self.tool_args.get(key) {
            None => Err(format!("{}: missing required field tool_args.{}", self.tool_name, key)),
            Some(v) => v.as_str().ok_or_else(|| format!("{}: field tool_args.{} is not a string", self.tool_name, key)),
        }
    }
}

/// What a guard author implements. An `Err` is logged and answered -1: the call is denied.
pub trait Guard {
    fn label_agent(&mut self, policy: &Value) -> Result<AgentLabels, String>;
    fn label_resource(&mut self, call: &Call) -> Result<ResourceLabels, String>;
    /// `None`: the resource labels cover the whole response.
    fn label_response(&mut self, call: &Call) -> Result<Option<ResponseLabels>, String>;
}

/// Logs through the gateway: 0 debug, 1 info, 2 warn, 3 error.
pub fn log(level: i32, message: &str) {
    host::log(level, message)
}

/// Calls a tool on the guard's own backend: its MCP result, or `None` when the call fails or is
/// refused (over mcpg's limit: gh-aw-mcpg's guards then fall back to cheaper evidence).
pub fn call_backend(tool: &str, args: &Value) -> Option<Value> {
    host::call_backend(tool, args)
}

/// The gateway's host functions, in a guard built for wasm32.
#[cfg(target_arch = "wasm32")]
mod host {
    use serde_json::Value;

    #[link(wasm_import_module = "env")]
    extern "C" {
        #[link_name = "call_backend"]
        fn host_call_backend(tool: *const u8, tool_len: i32, args: *const u8, args_len: i32, out: *mut u8, out_size: i32) -> i32;
        #[link_name = "host_log"]
        fn host_log(level: i32, ptr: *const u8, len: i32);
    }

    pub fn log(level: i32, message: &str) {
        unsafe { host_log(level, message.as_ptr(), message.len() as i32) }
    }

    pub fn call_backend(tool: &str, args: &Value) -> Option<Value> {
        let args = serde_json::to_vec(args).ok()?;
        let mut size = 64 * 1024;
        for _ in 0..4 {
            let mut out = vec![0u8; size];
            let n = unsafe { host_call_backend(tool.as_ptr(), tool.len() as i32, args.as_ptr(), args.len() as i32, out.as_mut_ptr(), size as i32) };
            if n >= 0 {
                return serde_json::from_slice(&out[..n as usize]).ok();
            }
            if n != -2 {
                return None;
            }
            size = u32::from_le_bytes([out[0], out[1], out[2], out[3]]) as usize;
        }
        None
    }
}

/// Native builds (`cargo test` on the author's machine): no gateway, so [`fake`] stands in for it.
#[cfg(not(target_arch = "wasm32"))]
mod host {
    pub(crate) use crate::fake::{call_backend, log};
}

/// Stand-ins for the gateway in native tests: canned `call_backend` answers and the log lines a
/// guard wrote, per test thread (cargo runs tests on several threads).
#[cfg(not(target_arch = "wasm32"))]
pub mod fake {
    use serde_json::Value;
    use std::cell::RefCell;

    thread_local! {
        static BACKEND: RefCell<Option<Box<dyn Fn(&str, &Value) -> Option<Value>>>> = RefCell::new(None);
        static LOGS: RefCell<Vec<(i32, String)>> = RefCell::new(Vec::new());
    }

    /// Answers `call_backend` with `f(tool, args)`; with none set every call fails (`None`), as
    /// the gateway answers a call it refuses.
    pub fn backend(f: impl Fn(&str, &Value) -> Option<Value> + 'static) {
        BACKEND.with(|b| *b.borrow_mut() = Some(Box::new(f)));
    }

    /// The log lines written so far on this thread, as (level, message).
    pub fn logs() -> Vec<(i32, String)> {
        LOGS.with(|l| l.borrow().clone())
    }

    pub(crate) fn log(level: i32, message: &str) {
        eprintln!("guard log {}: {}", level, message);
        LOGS.with(|l| l.borrow_mut().push((level, message.to_string())));
    }

    pub(crate) fn call_backend(tool: &str, args: &Value) -> Option<Value> {
        BACKEND.with(|b| b.borrow().as_ref().and_then(|f| f(tool, args)))
    }
}

/// The document of an MCP tool result, as the gateway finds it to label its items: the first
/// text block when it is a JSON object or array, else the structured content when it is an
/// object; else `None`.
pub fn result_json(result: &Value) -> Option<Value> {
    let first = result.get("content").and_then(|c| c.get(0));
    let text = first
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .and_then(|b| b.get("text"))
        .and_then(Value::as_str);
    let doc = text
        .filter(|t| t.trim_start_matches([' ', '\t', '\r', '\n']).starts_with(['{', '[']))
        .and_then(|t| serde_json::from_str(t).ok());
    doc.or_else(|| result.get("structuredContent").filter(|v| v.is_object()).cloned())
}

// ---- ABI plumbing: used by the exports `export_guard!` writes.

#[doc(hidden)]
pub fn alloc(size: i32) -> *mut u8 {
    let mut buf: Vec<u8> = Vec::with_capacity(size.max(1) as usize);
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    ptr
}

#[doc(hidden)]
pub unsafe fn dealloc(ptr: *mut u8, size: i32) {
    drop(Vec::from_raw_parts(ptr, 0, size.max(1) as usize));
}

/// Says a panic's message through the gateway's log before the guard traps.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|info| log(3, &format!("panic: {}", info)))));
}

/// Runs one export: reads the input, calls the guard, writes its answer (or asks for more room).
#[doc(hidden)]
pub unsafe fn handle<T: Serialize>(input: *const u8, input_len: i32, out: *mut u8, out_size: i32, f: impl FnOnce(&[u8]) -> Result<Option<T>, String>) -> i32 {
    install_panic_hook();
    let bytes = std::slice::from_raw_parts(input, input_len.max(0) as usize);
    let answer = match f(bytes) {
        Ok(Some(a)) => a,
        Ok(None) => return 0,
        Err(e) => {
            log(3, &e);
            return -1;
        }
    };
    let json = match serde_json::to_vec(&answer) {
        Ok(j) => j,
        Err(e) => {
            log(3, &format!("cannot encode the answer: {}", e));
            return -1;
        }
    };
    if json.len() > out_size as usize {
        if out_size >= 4 {
            std::ptr::copy_nonoverlapping((json.len() as u32).to_le_bytes().as_ptr(), out, 4);
        }
        return -2;
    }
    std::ptr::copy_nonoverlapping(json.as_ptr(), out, json.len());
    json.len() as i32
}

/// Parses an export's input; input the guard cannot read is an error (answered -1).
#[doc(hidden)]
pub fn input<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("input is not JSON the guard can read: {}", e))
}

/// Writes the ABI exports for a guard type, made by `$make` on first use. Only a wasm32 build
/// has them: a native build (`cargo test`) calls the guard's methods directly.
#[macro_export]
macro_rules! export_guard {
    ($ty:ty, $make:expr) => {
        #[cfg(target_arch = "wasm32")]
        mod mcpg_guard_exports {
            #[allow(unused_imports)]
            use super::*;
            static mut GUARD: Option<$ty> = None;
            fn guard() -> &'static mut $ty {
                unsafe { GUARD.get_or_insert_with(|| $make) }
            }
            #[no_mangle]
            pub extern "C" fn alloc(size: i32) -> *mut u8 {
                $crate::alloc(size)
            }
            #[no_mangle]
            pub unsafe extern "C" fn dealloc(ptr: *mut u8, size: i32) {
                $crate::dealloc(ptr, size)
            }
            #[no_mangle]
            pub unsafe extern "C" fn label_agent(i: *const u8, n: i32, o: *mut u8, s: i32) -> i32 {
                $crate::handle(i, n, o, s, |b| {
                    let policy: $crate::Value = $crate::input(b)?;
                    $crate::Guard::label_agent(guard(), &policy).map(Some)
                })
            }
            #[no_mangle]
            pub unsafe extern "C" fn label_resource(i: *const u8, n: i32, o: *mut u8, s: i32) -> i32 {
                $crate::handle(i, n, o, s, |b| {
                    let call: $crate::Call = $crate::input(b)?;
                    $crate::Guard::label_resource(guard(), &call).map(Some)
                })
            }
            #[no_mangle]
            pub unsafe extern "C" fn label_response(i: *const u8, n: i32, o: *mut u8, s: i32) -> i32 {
                $crate::handle(i, n, o, s, |b| {
                    let call: $crate::Call = $crate::input(b)?;
                    $crate::Guard::label_response(guard(), &call)
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_backend_answers_from_the_fake_backend() {
        assert_eq!(call_backend("get_repo", &json!({})), None, "no fake backend: every call fails");
        fake::backend(|tool, args| Some(json!({ "content": [{ "type": "text", "text": format!("{} {}", tool, args["id"]) }] })));
        let answer = call_backend("get_repo", &json!({ "id": 7 })).unwrap();
        assert_eq!(answer["content"][0]["text"], "get_repo 7");
        log(2, "seen");
        assert_eq!(fake::logs(), vec![(2, "seen".to_string())]);
    }

    #[test]
    fn result_json_is_none_for_text_that_is_not_json() {
        let ini = json!({ "content": [{ "type": "text", "text": "[core]\nbare = false" }] });
        assert_eq!(result_json(&ini), None);
    }

    #[test]
    fn required_names_the_missing_field() {
        let call = Call { tool_name: "delete_issue".to_string(), tool_args: json!({ "n": 1 }), ..Call::default() };
        assert_eq!(call.required("id"), Err("delete_issue: missing required field tool_args.id".to_string()));
        assert_eq!(call.required("n"), Err("delete_issue: field tool_args.n is not a string".to_string()));
    }

    #[test]
    fn labeled_items_say_the_common_labels_once() {
        let public = Labels::new(&[], &["contributor"]);
        let each = vec![Labels::new(&["private:o/a"], &["contributor"]), public.clone(), public.clone(), Labels::new(&["x"], &[])];
        assert_eq!(
            serde_json::to_value(&ResponseLabels::labeled_items("/items", each)).unwrap(),
            json!({
                "labeled_paths": [
                    { "path": "/items/0", "labels": { "secrecy": ["private:o/a"], "integrity": ["contributor"] } },
                    { "path": "/items/3", "labels": { "secrecy": ["x"], "integrity": [] } }
                ],
                "default_labels": { "secrecy": [], "integrity": ["contributor"] },
                "items_path": "/items"
            })
        );
        assert_eq!(serde_json::to_value(&ResponseLabels::labeled_items("", vec![])).unwrap(), json!({ "labeled_paths": [], "items_path": "" }));
    }

    #[test]
    fn items_serialize_as_the_abi_shape() {
        let labels = ResponseLabels::Items { items: vec![Item { data: json!({ "id": 1 }), labels: Labels::new(&["private:a/b"], &[]) }] };
        assert_eq!(serde_json::to_value(&labels).unwrap(), json!({ "items": [{ "data": { "id": 1 }, "labels": { "secrecy": ["private:a/b"], "integrity": [] } }] }));
    }
}
