module mcpg/guard

go 1.24
