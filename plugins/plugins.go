// Package plugins holds the built-in plugins: Wasm modules compiled from the sources beside
// this file and embedded in the gateway binary, so that they work with no extra files. Each
// folder has the plugin's source, manifest.json, README.md, tests and its built plugin.wasm;
// `make plugins` rebuilds the modules and the tests check that the committed ones match.
package plugins

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sync"

	"github.com/portcullis-mcp/portcullis/abi"
)

//go:embed */manifest.json */plugin.wasm
var files embed.FS

// Builtin is one built-in plugin.
type Builtin struct {
	Manifest abi.Manifest
	Wasm     []byte
}

var all = sync.OnceValues(func() (map[string]Builtin, error) {
	dirs, err := fs.Glob(files, "*/manifest.json")
	if err != nil {
		return nil, err
	}
	m := map[string]Builtin{}
	for _, f := range dirs {
		b, _ := files.ReadFile(f)
		man, err := abi.ParseManifest(b)
		if err != nil {
			return nil, fmt.Errorf("plugins: %s: %w", f, err)
		}
		if man.Name != path.Dir(f) {
			return nil, fmt.Errorf("plugins: %s names %q", f, man.Name)
		}
		wasm, _ := files.ReadFile(path.Join(path.Dir(f), "plugin.wasm"))
		m[man.Name] = Builtin{Manifest: man, Wasm: wasm}
	}
	return m, nil
})

// Lookup returns the built-in plugin called name.
func Lookup(name string) (Builtin, bool) {
	m, err := all()
	if err != nil {
		panic(err) // embedded at build time: the tests catch it before any release
	}
	b, ok := m[name]
	return b, ok && len(b.Wasm) > 0
}

// Names lists the built-in plugins, sorted.
func Names() []string {
	m, err := all()
	if err != nil {
		panic(err)
	}
	var names []string
	for n, b := range m {
		if len(b.Wasm) > 0 {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}
