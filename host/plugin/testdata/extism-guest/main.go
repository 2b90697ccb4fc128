// Command extism-guest is a request guard built with the Extism Go PDK, to
// test that the host runs Extism plugins. It speaks the Portcullis messages
// (abi/ABI.md) over Extism's input and output: it blocks frames containing
// "forbidden", spins forever on "spin", and allows the rest.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o guest.wasm .
package main

import (
	"bytes"
	"encoding/binary"

	"github.com/extism/go-pdk"
)

//go:wasmexport portcullis_request_guard
func requestGuard() int32 {
	in := pdk.Input()
	if len(in) < 32 {
		pdk.SetErrorString("short input")
		return 1
	}
	// Skip server, tool, agent, team and config to reach the frame.
	off := uint32(32)
	for i := 0; i < 5; i++ {
		off += binary.LittleEndian.Uint32(in[4+4*i:])
	}
	frame := in[off : off+binary.LittleEndian.Uint32(in[24:])]
	verdict := []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // allow
	switch {
	case bytes.Contains(frame, []byte("spin")):
		for {
			off++
		}
	case bytes.Contains(frame, []byte("forbidden")):
		reason := "forbidden word (extism)"
		verdict[1] = 1
		binary.LittleEndian.PutUint32(verdict[8:], uint32(len(reason)))
		verdict = append(verdict, reason...)
		pdk.Log(pdk.LogInfo, "blocked a frame")
	}
	pdk.Output(verdict)
	return 0
}

func main() {}
