module github.com/portcullis-mcp/portcullis/host/plugin/testdata/extism-guest

go 1.24

require github.com/extism/go-pdk v1.1.3
