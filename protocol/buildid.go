package protocol

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
)

// Build says which build of scxvm a binary is. Host and agent are two
// binaries, so their executables differ even when built from one source
// tree; what must agree is the shape of what they exchange. Schema is a
// hash of every message type's fields, types and tags (spec's types
// included), computed at run time, so two binaries built from the same
// source agree on it and a stale agent (an initramfs built from older
// code) does not.
type Build struct {
	// Module and Version are the scxvm module's path and version as the
	// Go toolchain recorded them ("(devel)" for a build in a checkout).
	Module  string `msgpack:"module,omitempty" json:"module,omitempty"`
	Version string `msgpack:"version,omitempty" json:"version,omitempty"`
	// Revision is the VCS revision of a checkout build, "+dirty" when the
	// tree had changes; empty when not recorded (go test, go install).
	Revision string `msgpack:"revision,omitempty" json:"revision,omitempty"`
	// ID is the content hash part of the executable's Go build ID.
	ID string `msgpack:"id,omitempty" json:"id,omitempty"`
	// Schema fingerprints the protocol's message types.
	Schema string `msgpack:"schema" json:"schema"`
}

// String formats b for error messages: "v1.2.0 (schema 3fa2…, build 9c1d…)".
func (b Build) String() string {
	v := b.Version
	if v == "" {
		v = "(unknown version)"
	}
	if b.Revision != "" {
		v += " " + b.Revision
	}
	return fmt.Sprintf("%s (schema %s, build id %s)", v, b.Schema, orUnknown(b.ID))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Compatible reports why an agent of build agent cannot serve a host of
// build b, or nil: the schemas must be equal, and so must the module
// versions when both are released versions.
func (b Build) Compatible(agent Build) error {
	if agent.Schema != b.Schema {
		return fmt.Errorf("agent build %v speaks another message schema than host build %v", agent, b)
	}
	if released(b.Version) && released(agent.Version) && b.Version != agent.Version {
		return fmt.Errorf("agent build %v is another release than host build %v", agent, b)
	}
	return nil
}

func released(v string) bool { return v != "" && v != "(devel)" }

// CurrentBuild returns the build of the running binary.
func CurrentBuild() Build { return currentBuild() }

var currentBuild = sync.OnceValue(func() Build {
	b := Build{Schema: Schema()}
	if exe, err := os.Executable(); err == nil {
		b.ID = goBuildID(exe)
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		b.Module, b.Version = info.Main.Path, info.Main.Version
		if dep := findModule(info, modulePath); dep != nil {
			b.Module, b.Version = dep.Path, dep.Version
		}
		var dirty bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && b.Revision != "" {
			b.Revision += "+dirty"
		}
	}
	return b
})

// modulePath is this module's path: in a binary of another main module
// (a user's test that imports vmtest) scxvm is a dependency.
const modulePath = "github.com/scxvm/scxvm"

func findModule(info *debug.BuildInfo, path string) *debug.Module {
	for _, d := range info.Deps {
		if d.Path == path {
			if d.Replace != nil {
				return d.Replace
			}
			return d
		}
	}
	return nil
}

// Schema returns the fingerprint of every message type of this protocol
// version: a hash over their fields' names, types and tags, recursively.
func Schema() string { return schema() }

var schema = sync.OnceValue(func() string {
	var b strings.Builder
	fmt.Fprintf(&b, "v%d\n", Version)
	seen := map[reflect.Type]bool{}
	for t := Type(1); t < numTypes; t++ {
		m, _ := NewMessage(t)
		describeType(&b, reflect.TypeOf(m).Elem(), seen)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:6])
})

// describeType writes t's shape; named struct types are described once.
func describeType(b *strings.Builder, t reflect.Type, seen map[reflect.Type]bool) {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		b.WriteString(t.Kind().String() + " ")
		describeType(b, t.Elem(), seen)
		return
	case reflect.Map:
		b.WriteString("map ")
		describeType(b, t.Key(), seen)
		describeType(b, t.Elem(), seen)
		return
	case reflect.Struct:
		fmt.Fprintf(b, "struct %s{", t.String())
		if seen[t] {
			b.WriteString("}\n")
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			fmt.Fprintf(b, "%s %q ", f.Name, f.Tag.Get("msgpack"))
			describeType(b, f.Type, seen)
		}
		b.WriteString("}\n")
		return
	}
	fmt.Fprintf(b, "%s(%s) ", t.String(), t.Kind())
}

// goBuildID returns the last component of the Go build ID in the ELF note
// section .note.go.buildid of the executable at path, or "".
func goBuildID(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sec := f.Section(".note.go.buildid")
	if sec == nil {
		return ""
	}
	note, err := sec.Data()
	if err != nil {
		return ""
	}
	return parseGoBuildIDNote(note, f.ByteOrder)
}

// parseGoBuildIDNote parses an ELF note of name "Go" and type 4 whose
// descriptor is the build ID "actionID/.../contentID".
func parseGoBuildIDNote(note []byte, order binary.ByteOrder) string {
	const goBuildIDType = 4
	if len(note) < 16 {
		return ""
	}
	nameSize := order.Uint32(note[0:])
	descSize := order.Uint32(note[4:])
	typ := order.Uint32(note[8:])
	if nameSize != 4 || typ != goBuildIDType || !bytes.Equal(note[12:16], []byte("Go\x00\x00")) {
		return ""
	}
	desc := note[16:]
	if uint64(descSize) > uint64(len(desc)) {
		return ""
	}
	id := string(desc[:descSize])
	return id[strings.LastIndexByte(id, '/')+1:]
}
