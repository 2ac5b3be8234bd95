module example.com/my-guard

go 1.24

require github.com/mcpg-dev/mcpg/registry/sdk/go v0.1.2
