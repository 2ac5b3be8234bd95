module repo-visibility-go

go 1.24

require github.com/mcpg-dev/mcpg/registry/sdk/go v0.0.0

replace github.com/mcpg-dev/mcpg/registry/sdk/go => ../../sdk/go
