package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// serveMain is a container's service: it answers "hello from NAME" on every
// port given, until it is killed.
func serveMain(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: weir-demo serve NAME PORT...")
		return 2
	}
	name := args[0]
	for _, p := range args[1:] {
		l, err := net.Listen("tcp", ":"+p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: listening on %s: %v\n", name, p, err)
			return 1
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "hello from %s\n", name)
				c.Close()
			}
		}()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return 0
}
