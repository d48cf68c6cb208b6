// Package chaos is weir's reliability suite: it drives the real binaries
// (bin/weir and its plugin links) inside the sandbox and checks, after
// every disturbance, that the host holds exactly what weir's records say.
//
//   - Crash injection: `weir attach`, `weir detach`, `weir policy apply`,
//     `weir net add` and `weir net del` are killed with SIGKILL at random
//     moments; then `weir recover` (and, for net add/del, the runtime's
//     `weir net del`) runs and the invariants are checked.
//   - Churn: many workers attach, detach and edit policy at once, through
//     the CLI and the daemon's API; the invariants are checked at barriers.
//   - Plugin faults: scripted plugins that hang, crash, print garbage,
//     answer code 11 or fail on DEL, in chains with weir's bridge and
//     host-local.
//   - Bad input: malformed network and policy files, API requests,
//     container ids, CLI flags and CNI environments, each of which must be
//     refused with a clear error and change nothing on the host.
//
// The invariants: no leaked addresses, links, rules, ipsets, mounts,
// records or state files; no address held twice; the policy dataplane is
// exactly what the endpoint index and the policy files compile to; and
// every container weir reports as attached can reach its gateway.
//
// The tests run in a short form by default (part of `make test`) and in a
// long form with WEIR_CHAOS=long (`make chaos`, which also runs the
// fuzzers). They need the sandbox (scripts/sandbox) and WEIR_BIN_DIR.
package chaos
