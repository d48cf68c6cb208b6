package bridge

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// spoofFilterName names the tc filter that enforces macspoofchk.
const spoofFilterName = "weir-macspoofchk"

// The MAC spoof check sits on the ingress of the host end of the veth (every
// frame the container sends arrives there) and drops each frame whose
// Ethernet source is not the container's MAC. It lives and dies with the
// veth, so DEL has nothing to remove.
//
// It is a cls_bpf classifier in direct-action mode under a clsact qdisc: a
// ten-instruction program that compares the source address and returns
// TC_ACT_OK or TC_ACT_SHOT. A flower filter (match src_mac, pass) over a
// matchall drop would say the same, but needs cls_flower, cls_matchall and
// act_gact; cls_bpf needs nothing but itself, and one filter has no window
// in which only half of the policy is installed.

// spoofCheckProgram returns the eBPF program that passes frames from mac
// and drops all others. At tc ingress cls_bpf presents the frame from its
// Ethernet header, so the source address is at offset 6.
func spoofCheckProgram(mac net.HardwareAddr) []byte {
	hi := binary.BigEndian.Uint32(mac[0:4]) // LD_ABS loads in network order
	lo := uint32(binary.BigEndian.Uint16(mac[4:6]))
	const (
		movReg   = unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X
		movImm64 = unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K
		movImm32 = unix.BPF_ALU | unix.BPF_MOV | unix.BPF_K // zero-extends
		ldAbsW   = unix.BPF_LD | unix.BPF_ABS | unix.BPF_W
		ldAbsH   = unix.BPF_LD | unix.BPF_ABS | unix.BPF_H
		jneReg   = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_X
		exit     = unix.BPF_JMP | unix.BPF_EXIT
	)
	type insn struct {
		code     uint8
		dst, src uint8
		off      int16
		imm      int32
	}
	prog := []insn{
		{code: movReg, dst: 6, src: 1},                          // 0: r6 = skb (LD_ABS reads it)
		{code: ldAbsW, imm: 6},                                  // 1: r0 = src MAC bytes 0-3
		{code: movImm32, dst: 2, imm: int32(hi)},                // 2: r2 = expected bytes 0-3
		{code: jneReg, dst: 0, src: 2, off: 5},                  // 3: mismatch: goto 9
		{code: ldAbsH, imm: 10},                                 // 4: r0 = src MAC bytes 4-5
		{code: movImm32, dst: 2, imm: int32(lo)},                // 5: r2 = expected bytes 4-5
		{code: jneReg, dst: 0, src: 2, off: 2},                  // 6: mismatch: goto 9
		{code: movImm64, dst: 0, imm: int32(netlink.TC_ACT_OK)}, // 7
		{code: exit}, // 8
		{code: movImm64, dst: 0, imm: int32(netlink.TC_ACT_SHOT)}, // 9
		{code: exit}, // 10
	}
	out := make([]byte, 0, 8*len(prog))
	for _, in := range prog {
		out = append(out, in.code, in.dst&0x0f|in.src<<4)
		out = binary.LittleEndian.AppendUint16(out, uint16(in.off))
		out = binary.LittleEndian.AppendUint32(out, uint32(in.imm))
	}
	return out
}

// bpfProgLoadAttr is the BPF_PROG_LOAD part of union bpf_attr, up to
// prog_name; the kernel treats the missing tail as zero.
type bpfProgLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
	progName    [16]byte
}

// loadSchedCLS loads a BPF_PROG_TYPE_SCHED_CLS program and returns its fd.
// When the verifier refuses it, the load is repeated with a log, and the
// log is in the error.
func loadSchedCLS(name string, insns []byte) (int, error) {
	license := []byte("Apache-2.0\x00")
	load := func(logBuf []byte) (int, syscall.Errno) {
		attr := bpfProgLoadAttr{
			progType: unix.BPF_PROG_TYPE_SCHED_CLS,
			insnCnt:  uint32(len(insns) / 8),
			insns:    uint64(uintptr(unsafe.Pointer(&insns[0]))),
			license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		}
		copy(attr.progName[:15], name)
		if logBuf != nil {
			attr.logLevel = 1
			attr.logSize = uint32(len(logBuf))
			attr.logBuf = uint64(uintptr(unsafe.Pointer(&logBuf[0])))
		}
		fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		runtime.KeepAlive(insns)
		runtime.KeepAlive(license)
		runtime.KeepAlive(logBuf)
		return int(fd), errno
	}
	fd, errno := load(nil)
	if errno == 0 {
		return fd, nil
	}
	logBuf := make([]byte, 64*1024)
	if fd, e := load(logBuf); e == 0 {
		return fd, nil // succeeded on retry
	}
	if n := bytes.IndexByte(logBuf, 0); n > 0 {
		return -1, fmt.Errorf("loading BPF program %s: %w: %s", name, errno, logBuf[:n])
	}
	return -1, fmt.Errorf("loading BPF program %s: %w", name, errno)
}

// setupSpoofCheck installs the check on host's ingress for frames from mac.
func setupSpoofCheck(host netlink.Link, mac net.HardwareAddr) error {
	name := host.Attrs().Name
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: host.Attrs().Index,
			Handle:    netlink.MakeHandle(0xffff, 0),
			Parent:    netlink.HANDLE_CLSACT,
		},
		QdiscType: "clsact",
	}
	if err := netlink.QdiscAdd(qdisc); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("adding clsact qdisc to %s for macspoofchk: %w", name, err)
	}
	fd, err := loadSchedCLS("weir_spoofchk", spoofCheckProgram(mac))
	if err != nil {
		return fmt.Errorf("macspoofchk on %s: %w", name, err)
	}
	defer unix.Close(fd) // the filter holds its own reference
	filter := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: host.Attrs().Index,
			Parent:    netlink.HANDLE_MIN_INGRESS,
			Handle:    1,
			Priority:  1,
			Protocol:  unix.ETH_P_ALL,
		},
		Fd:           fd,
		Name:         spoofFilterName,
		DirectAction: true,
	}
	if err := netlink.FilterAdd(filter); err != nil {
		return fmt.Errorf("adding macspoofchk filter to %s ingress: %w", name, err)
	}
	return nil
}

// checkSpoofCheck verifies that host's ingress carries the check.
func checkSpoofCheck(host netlink.Link) error {
	filters, err := netlinksafe.FilterList(host, netlink.HANDLE_MIN_INGRESS)
	if err != nil {
		return fmt.Errorf("listing ingress filters of %s: %w", host.Attrs().Name, err)
	}
	for _, f := range filters {
		if bf, ok := f.(*netlink.BpfFilter); ok && bf.Name == spoofFilterName && bf.DirectAction {
			return nil
		}
	}
	return fmt.Errorf("macspoofchk filter is missing from %s ingress", host.Attrs().Name)
}
