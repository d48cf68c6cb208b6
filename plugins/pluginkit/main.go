package pluginkit

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
)

// Main runs the plugin named typ as a CNI plugin binary: CNI variables from
// the environment, the configuration on stdin, the result or error on
// stdout, diagnostics on stderr. It returns the process exit code.
func Main(typ string, reg Registry) int {
	p, ok := reg[typ]
	if !ok {
		fmt.Fprintf(os.Stderr, "weir: no plugin named %q\n", typ)
		return 1
	}
	if os.Getenv("CNI_COMMAND") == "" {
		fmt.Fprintf(os.Stderr, "weir %s: a CNI plugin; run it through a CNI runtime (CNI_COMMAND is not set)\nCNI protocol versions supported: %s\n",
			typ, strings.Join(Versions.SupportedVersions(), ", "))
		return 0
	}
	stdin, err := io.ReadAll(os.Stdin)
	if err != nil {
		return printError(Errorf(5, "reading stdin: %w", err))
	}
	log := NewStderrLogger(typ, os.Stderr, os.Getenv("WEIR_LOG_LEVEL"))
	exec := &Exec{Plugins: reg, Log: log, Stderr: os.Stderr}
	env := &Env{Exec: exec, Log: log, Stderr: os.Stderr}
	out, terr := Dispatch(context.Background(), p, env, os.Environ(), stdin)
	if terr != nil {
		return printError(terr)
	}
	if _, err := os.Stdout.Write(out); err != nil {
		return 1
	}
	return 0
}

func printError(e interface{ Print() error }) int {
	_ = e.Print()
	return 1
}
