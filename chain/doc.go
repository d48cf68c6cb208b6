// Package chain loads network definitions and runs their CNI plugin chains.
//
// Definitions: a network definition is a CNI network configuration list.
// Operators write it in TOML (*.toml: the same keys as the JSON list —
// cniVersion, name, plugins and each plugin's own keys spelled as CNI
// documents them) or in any of CNI's JSON forms (*.conflist, *.conf, *.json).
// LoadDir reads a directory of them afresh on every call, compiles TOML to
// the JSON bytes libcni consumes, and validates every file before anything
// runs: known cniVersion, at least one plugin, every plugin type installed
// in the plugin path, unique and valid network names. A bad file is reported
// with its file name, line and key path and does not hide the good ones.
//
// Chains: a Runner runs a definition's plugins for a container — ADD in
// order with each result fed to the next, DEL in reverse — with timeouts and
// retries, and keeps an atomic record of every attachment so that DEL, CHECK
// and status replay exactly what ADD ran. Before the first ADD, the plugins
// that can (weir's own, see ConfigChecker) check their configuration, so a
// bad definition changes nothing; a failed ADD is rolled back, and its
// record kept only while something of it may remain (see rollback). GC and
// ADD exclude each other, so GC never frees what an ADD just acquired.
package chain
