// Package integration holds weir's end-to-end tests: they drive the built
// binaries (bin/weir and its plugin links) and the reference CNI plugins and
// cnitool the way a runtime does, inside the sandbox (scripts/sandbox), with
// test hosts as network namespaces and real packets between them. `make
// test` builds the binaries and sets WEIR_BIN_DIR and WEIR_REF_DIR; without
// them these tests skip.
package integration
