package admin

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/portcullis-mcp/portcullis/host/gateway"
)

// openapi serves the OpenAPI 3.1 document of routes.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, 200, s.doc)
	return nil
}

// document returns the OpenAPI 3.1 description of the admin API, built from the same route list
// as the server, so that it names every route the server has.
func document() map[string]any {
	errResp := map[string]any{"description": "error", "content": map[string]any{"application/json": map[string]any{
		"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	paths := map[string]any{}
	for _, rt := range routes {
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		var params []any
		for _, seg := range strings.Split(rt.path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
			}
		}
		if rt.method == "PUT" || rt.method == "DELETE" || strings.HasSuffix(rt.path, "/rollback") || strings.HasSuffix(rt.path, "/reorder") {
			params = append(params, map[string]any{"name": "If-Match", "in": "header", "required": false,
				"description": "the bindings' ETag; a stale one gets 412", "schema": map[string]any{"type": "string"}})
		}
		op := map[string]any{
			"summary":     rt.summary,
			"operationId": strings.ToLower(rt.method) + strings.NewReplacer("/", "_", "{", "", "}", "", ".", "_").Replace(rt.path),
			"responses": map[string]any{
				strconv.Itoa(rt.ok): map[string]any{"description": http.StatusText(rt.ok)},
				"default":           errResp,
			},
		}
		if params != nil {
			op["parameters"] = params
		}
		item[strings.ToLower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Portcullis admin API", "version": gateway.Version,
			"description": "Every call needs Authorization: Bearer <admin token>; browser Origins are refused unless allowed."},
		"components": map[string]any{
			"securitySchemes": map[string]any{"adminToken": map[string]any{"type": "http", "scheme": "bearer"}},
			"schemas": map[string]any{"Error": map[string]any{"type": "object", "required": []string{"error"},
				"properties": map[string]any{"error": map[string]any{"type": "object", "required": []string{"code", "message"},
					"properties": map[string]any{"code": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"}}}}}},
		},
		"security": []any{map[string]any{"adminToken": []string{}}},
		"paths":    paths,
	}
}
