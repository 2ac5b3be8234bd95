// repo-visibility in Go: labels the GitHub MCP server's tools by repository visibility.
package main

import (
	"encoding/json"
	"strings"

	guard "github.com/mcpg-dev/mcpg/registry/sdk/go"
)

const (
	contributor = "contributor"
	maintainer  = "maintainer"
	maxKnown    = 1000
)

type repoVisibility struct {
	// Visibility learned from the backend, per "owner/repo"; bounded by maxKnown, so a
	// long-lived instance does not grow toward its memory cap.
	private map[string]bool
}

func (g *repoVisibility) LabelAgent(policy json.RawMessage) (*guard.AgentLabels, error) {
	var p struct {
		AllowOnly struct {
			Repos        string `json:"repos"`
			MinIntegrity string `json:"min-integrity"`
		} `json:"allow-only"`
	}
	if err := json.Unmarshal(policy, &p); err != nil {
		return nil, err
	}
	a := &guard.AgentLabels{Agent: guard.Labels{Secrecy: []string{}, Integrity: []string{}}}
	if p.AllowOnly.Repos == "all" {
		a.Agent.Secrecy = []string{"private:*"}
	}
	// gh-aw-mcpg's integrity levels: approved is a contributor's, merged a maintainer's.
	switch p.AllowOnly.MinIntegrity {
	case "merged":
		a.Agent.Integrity = []string{contributor, maintainer}
	case "approved":
		a.Agent.Integrity = []string{contributor}
	}
	return a, nil
}

func (g *repoVisibility) isPrivate(repo string) bool {
	if v, ok := g.private[repo]; ok {
		return v
	}
	// Unknown or unreachable counts as private: the guard fails closed. Only an answer is kept:
	// a lookup that failed (the backend down, a bad answer) decides this call alone.
	res, err := guard.CallBackend("search_repositories", map[string]string{"query": "repo:" + repo})
	var doc struct {
		Items *[]struct {
			FullName string `json:"full_name"`
			Private  *bool  `json:"private"`
		} `json:"items"`
	}
	if err != nil || guard.ResultJSON(res, &doc) != nil || doc.Items == nil {
		guard.Log(2, "repository "+repo+": lookup failed; private for this call")
		return true
	}
	priv := true
	for _, it := range *doc.Items {
		if strings.EqualFold(it.FullName, repo) {
			priv = it.Private == nil || *it.Private
		}
	}
	if len(g.private) >= maxKnown {
		clear(g.private)
	}
	g.private[repo] = priv
	return priv
}

func repoOf(args map[string]any) string {
	owner, _ := args["owner"].(string)
	repo, _ := args["repo"].(string)
	if owner == "" || repo == "" {
		return ""
	}
	return owner + "/" + repo
}

func (g *repoVisibility) secrecyOf(repo string) []string {
	if repo != "" && g.isPrivate(repo) {
		return []string{"private:" + repo}
	}
	return []string{}
}

func (g *repoVisibility) LabelResource(c guard.Call) (*guard.ResourceLabels, error) {
	repo := repoOf(c.ToolArgs)
	what := c.ToolName
	if repo != "" {
		what += " on " + repo
	}
	s := g.secrecyOf(repo)
	t := c.ToolName
	var r *guard.ResourceLabels
	switch {
	case t == "merge_pull_request":
		r = guard.NewResource(what, guard.Labels{Secrecy: s, Integrity: []string{maintainer}}, guard.ReadWrite)
	case strings.HasPrefix(t, "list_") || strings.HasPrefix(t, "get_") || strings.HasPrefix(t, "search_"):
		r = guard.NewResource(what, guard.Labels{Secrecy: s, Integrity: []string{contributor, maintainer}}, guard.Read)
	case strings.HasPrefix(t, "create_") || strings.HasPrefix(t, "update_") || strings.HasPrefix(t, "add_"):
		r = guard.NewResource(what, guard.Labels{Secrecy: s, Integrity: []string{contributor}}, guard.Write)
	default:
		r = guard.NewResource(what, guard.Labels{Secrecy: s, Integrity: []string{maintainer}}, guard.Write)
	}
	// Only collections are labeled item by item: any other response takes these labels, unread.
	if !labeledPerItem(t) {
		r.WholeResponse()
	}
	return r, nil
}

// labeledPerItem says whether a tool's response is a collection LabelResponse labels item by item.
func labeledPerItem(tool string) bool {
	return strings.HasPrefix(tool, "list_") || strings.HasPrefix(tool, "search_")
}

func itemIntegrity(assoc string) []string {
	switch assoc {
	case "OWNER", "MEMBER", "":
		return []string{contributor, maintainer}
	case "COLLABORATOR", "CONTRIBUTOR":
		return []string{contributor}
	}
	return []string{}
}

func (g *repoVisibility) LabelResponse(c guard.Call) (*guard.ResponseLabels, error) {
	if !labeledPerItem(c.ToolName) {
		return nil, nil
	}
	type item struct {
		FullName          string `json:"full_name"`
		Private           *bool  `json:"private"`
		AuthorAssociation string `json:"author_association"`
	}
	var items []item
	itemsPath := ""
	var wrapped struct {
		Items []item `json:"items"`
	}
	if guard.ResultJSON(c.ToolResult, &items) != nil {
		if guard.ResultJSON(c.ToolResult, &wrapped) != nil || wrapped.Items == nil {
			return nil, nil
		}
		items, itemsPath = wrapped.Items, "/items"
	}
	repo := repoOf(c.ToolArgs)
	each := make([]guard.Labels, 0, len(items))
	for _, it := range items {
		name := it.FullName
		if name == "" {
			name = repo
		}
		var secrecy []string
		if it.Private != nil {
			secrecy = []string{}
			if *it.Private {
				secrecy = []string{"private:" + name}
			}
		} else {
			secrecy = g.secrecyOf(name)
		}
		each = append(each, guard.Labels{Secrecy: secrecy, Integrity: itemIntegrity(it.AuthorAssociation)})
	}
	return guard.NewLabeledItems(itemsPath, each), nil
}

func init() { guard.Register(&repoVisibility{private: map[string]bool{}}) }

func main() {}
