module repo-visibility-go

go 1.24

require mcpg/guard v0.0.0

replace mcpg/guard => ../../sdk/go
