module example.com/my-guard

go 1.24

require github.com/mcpg-dev/mcpg/registry/sdk/go v0.0.0

// Until the SDK is fetched by version: a copy of mcpg's registry/sdk/go beside this file.
replace github.com/mcpg-dev/mcpg/registry/sdk/go => ./sdk
