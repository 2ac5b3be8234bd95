module github.com/mcpg-dev/mcpg/registry/sdk/go

go 1.24
