//! repo-visibility in Rust: labels the GitHub MCP server's tools by repository visibility.
use std::collections::HashMap;

use mcpg_guard::{
    call_backend, export_guard, json, log, result_json, AgentLabels, Call, Guard, Labels, ResourceLabels,
    ResponseLabels, Value, READ, READ_WRITE, WRITE,
};

const CONTRIBUTOR: &str = "contributor";
const MAINTAINER: &str = "maintainer";
const MAX_KNOWN: usize = 1000;

#[derive(Default)]
struct RepoVisibility {
    /// Visibility learned from the backend, per "owner/repo"; bounded by MAX_KNOWN, so a
    /// long-lived instance does not grow toward its memory cap.
    private: HashMap<String, bool>,
}

impl RepoVisibility {
    fn is_private(&mut self, repo: &str) -> bool {
        if let Some(known) = self.private.get(repo) {
            return *known;
        }
        // Unknown or unreachable counts as private: the guard fails closed. Only an answer is
        // kept: a lookup that failed (the backend down, a bad answer) decides this call alone.
        let doc = call_backend("search_repositories", &json!({ "query": format!("repo:{}", repo) })).and_then(|r| result_json(&r));
        let items = match doc.as_ref().and_then(|d| d.get("items")).and_then(Value::as_array) {
            Some(items) => items,
            None => {
                log(2, &format!("repository {}: lookup failed; private for this call", repo));
                return true;
            }
        };
        let mut private = true;
        for item in items {
            if item.get("full_name").and_then(Value::as_str).map(|n| n.eq_ignore_ascii_case(repo)) == Some(true) {
                private = item.get("private").and_then(Value::as_bool).unwrap_or(true);
            }
        }
        log(0, &format!("repository {} is {}", repo, if private { "private" } else { "public" }));
        if self.private.len() >= MAX_KNOWN {
            self.private.clear();
        }
        self.private.insert(repo.to_string(), private);
        private
    }

    fn secrecy_of(&mut self, repo: &str) -> Vec<String> {
        if !repo.is_empty() && self.is_private(repo) {
            vec![format!("private:{}", repo)]
        } else {
            vec![]
        }
    }
}

fn repo_of(call: &Call) -> String {
    let (owner, repo) = (call.arg("owner"), call.arg("repo"));
    if owner.is_empty() || repo.is_empty() {
        String::new()
    } else {
        format!("{}/{}", owner, repo)
    }
}

/// Whether a tool's response is a collection `label_response` labels item by item.
fn labeled_per_item(tool: &str) -> bool {
    tool.starts_with("list_") || tool.starts_with("search_")
}

fn item_integrity(item: &Value) -> Vec<String> {
    let tags: &[&str] = match item.get("author_association").and_then(Value::as_str).unwrap_or("") {
        "OWNER" | "MEMBER" | "" => &[CONTRIBUTOR, MAINTAINER],
        "COLLABORATOR" | "CONTRIBUTOR" => &[CONTRIBUTOR],
        _ => &[],
    };
    tags.iter().map(|t| t.to_string()).collect()
}

impl Guard for RepoVisibility {
    /// gh-aw-mcpg's allow-only policy: repos = "all" clears private repositories; min-integrity
    /// approved = contributor, merged = maintainer.
    fn label_agent(&mut self, policy: &Value) -> Result<AgentLabels, String> {
        let allow = policy.get("allow-only");
        let field = |k: &str| allow.and_then(|a| a.get(k)).and_then(Value::as_str).unwrap_or("").to_string();
        let secrecy: &[&str] = if field("repos") == "all" { &["private:*"] } else { &[] };
        let integrity: &[&str] = match field("min-integrity").as_str() {
            "merged" => &[CONTRIBUTOR, MAINTAINER],
            "approved" => &[CONTRIBUTOR],
            _ => &[],
        };
        Ok(AgentLabels { agent: Labels::new(secrecy, integrity), difc_mode: None })
    }

    fn label_resource(&mut self, call: &Call) -> Result<ResourceLabels, String> {
        let tool = call.tool_name.as_str();
        let repo = repo_of(call);
        let secrecy = self.secrecy_of(&repo);
        let what = if repo.is_empty() { tool.to_string() } else { format!("{} on {}", tool, repo) };
        let labels = |integrity: &[&str]| Labels { secrecy: secrecy.clone(), integrity: integrity.iter().map(|t| t.to_string()).collect() };
        let answer = if tool == "merge_pull_request" {
            ResourceLabels::new(&what, labels(&[MAINTAINER]), READ_WRITE)
        } else if tool.starts_with("list_") || tool.starts_with("get_") || tool.starts_with("search_") {
            ResourceLabels::new(&what, labels(&[CONTRIBUTOR, MAINTAINER]), READ)
        } else if tool.starts_with("create_") || tool.starts_with("update_") || tool.starts_with("add_") {
            ResourceLabels::new(&what, labels(&[CONTRIBUTOR]), WRITE)
        } else {
            // Anything else may change the repository: only a maintainer may, and nothing secret leaks into it.
            ResourceLabels::new(&what, labels(&[MAINTAINER]), WRITE)
        };
        // Only collections are labeled item by item: any other response takes these labels, unread.
        Ok(if labeled_per_item(tool) { answer } else { answer.whole_response() })
    }

    /// list_* and search_* results are labeled per item; anything else takes the resource labels.
    fn label_response(&mut self, call: &Call) -> Result<Option<ResponseLabels>, String> {
        let tool = call.tool_name.as_str();
        if !labeled_per_item(tool) {
            return Ok(None);
        }
        let doc = match result_json(&call.tool_result) {
            Some(d) => d,
            None => return Ok(None),
        };
        let (items, items_path) = match doc.get("items") {
            Some(items) if doc.is_object() => (items.clone(), "/items"),
            _ => (doc, ""),
        };
        let items = match items.as_array() {
            Some(a) => a.clone(),
            None => return Ok(None),
        };
        let repo = repo_of(call);
        let mut each = Vec::with_capacity(items.len());
        for item in items.iter() {
            // A search result names its repository; a listing belongs to the repository in the arguments.
            let name = item.get("full_name").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| repo.clone());
            let secrecy = match item.get("private") {
                Some(p) if item.is_object() => {
                    if p.as_bool().unwrap_or(true) {
                        vec![format!("private:{}", name)]
                    } else {
                        vec![]
                    }
                }
                _ => self.secrecy_of(&name),
            };
            each.push(Labels { secrecy, integrity: item_integrity(item) });
        }
        Ok(Some(ResponseLabels::labeled_items(items_path, each)))
    }
}

export_guard!(RepoVisibility, RepoVisibility::default());
