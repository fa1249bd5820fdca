package runtime

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// The seccomp filter is compiled by libseccomp (through its Go binding,
// which needs cgo and libseccomp-dev at build time), as runc and crun do:
// it knows every architecture's syscall numbers, multiplexed calls
// (socketcall, ipc on x86) and how to lay out the BPF program, which a
// hand-written BPF builder would have to redo.

// seccompActions maps the runtime-spec action names to libseccomp's.
// SCMP_ACT_KILL is the thread kill, as in runc. SCMP_ACT_NOTIFY is
// missing on purpose (it needs a listener; Validate rejects it).
var seccompActions = map[specs.LinuxSeccompAction]libseccomp.ScmpAction{
	specs.ActKill:        libseccomp.ActKillThread,
	specs.ActKillThread:  libseccomp.ActKillThread,
	specs.ActKillProcess: libseccomp.ActKillProcess,
	specs.ActTrap:        libseccomp.ActTrap,
	specs.ActErrno:       libseccomp.ActErrno,
	specs.ActTrace:       libseccomp.ActTrace,
	specs.ActAllow:       libseccomp.ActAllow,
	specs.ActLog:         libseccomp.ActLog,
}

// seccompOperators maps the runtime-spec comparison operators.
var seccompOperators = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

// seccompArchs maps the runtime-spec architecture names to libseccomp's.
var seccompArchs = map[specs.Arch]string{
	specs.ArchX86: "x86", specs.ArchX86_64: "amd64", specs.ArchX32: "x32",
	specs.ArchARM: "arm", specs.ArchAARCH64: "arm64",
	specs.ArchMIPS: "mips", specs.ArchMIPS64: "mips64", specs.ArchMIPS64N32: "mips64n32",
	specs.ArchMIPSEL: "mipsel", specs.ArchMIPSEL64: "mipsel64", specs.ArchMIPSEL64N32: "mipsel64n32",
	specs.ArchPPC: "ppc", specs.ArchPPC64: "ppc64", specs.ArchPPC64LE: "ppc64le",
	specs.ArchS390: "s390", specs.ArchS390X: "s390x",
	specs.ArchPARISC: "parisc", specs.ArchPARISC64: "parisc64",
	specs.ArchRISCV64: "riscv64", specs.ArchLOONGARCH64: "loong64",
	specs.ArchM68K: "m68k", specs.ArchSH: "sh", specs.ArchSHEB: "sheb",
}

// flagTSYNC is the filter flag that syncs every thread. libseccomp's Go
// binding always sets it, so it is accepted and has nothing left to do.
const flagTSYNC specs.LinuxSeccompFlag = "SECCOMP_FILTER_FLAG_TSYNC"

// seccompFlags lists the filter flags this runtime honours.
var seccompFlags = []specs.LinuxSeccompFlag{flagTSYNC, specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}

// maxSyscallArgs is the number of syscall arguments a condition can test.
const maxSyscallArgs = 6

// validateSeccomp checks linux.seccomp without compiling it: known action,
// operator, architecture and flag names, argument indexes, errnoRet only
// where an errno is returned. SCMP_ACT_NOTIFY and listenerPath wrap
// ErrUnsupported.
func validateSeccomp(s *specs.LinuxSeccomp) error {
	if s == nil {
		return nil
	}
	if err := validateSeccompAction("linux.seccomp.defaultAction", s.DefaultAction); err != nil {
		return err
	}
	if err := validateErrnoRet("linux.seccomp.defaultErrnoRet", s.DefaultAction, s.DefaultErrnoRet); err != nil {
		return err
	}
	if s.ListenerPath != "" || s.ListenerMetadata != "" {
		return unsupported("linux.seccomp.listenerPath", "the seccomp notify listener")
	}
	for i, a := range s.Architectures {
		if !seccompArchSupported(a) {
			return configErrorf(fmt.Sprintf("linux.seccomp.architectures[%d]", i), "unknown architecture %q, or one libseccomp cannot filter on this host", a)
		}
	}
	for i, fl := range s.Flags {
		if !slices.Contains(seccompFlags, fl) {
			return configErrorf(fmt.Sprintf("linux.seccomp.flags[%d]", i), "unsupported flag %q (supported: %s)", fl, joinFlags(seccompFlags))
		}
	}
	for i, call := range s.Syscalls {
		f := fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
		if len(call.Names) == 0 {
			return configErrorf(f+".names", "must not be empty")
		}
		if err := validateSeccompAction(f+".action", call.Action); err != nil {
			return err
		}
		if err := validateErrnoRet(f+".errnoRet", call.Action, call.ErrnoRet); err != nil {
			return err
		}
		for j, arg := range call.Args {
			af := fmt.Sprintf("%s.args[%d]", f, j)
			if arg.Index >= maxSyscallArgs {
				return configErrorf(af+".index", "must be below %d, got %d", maxSyscallArgs, arg.Index)
			}
			if _, ok := seccompOperators[arg.Op]; !ok {
				return configErrorf(af+".op", "unknown operator %q", arg.Op)
			}
		}
	}
	return nil
}

// seccompArchSupported reports whether the libseccomp this binary uses can
// add architecture a to a filter (older versions lack the newer ones).
func seccompArchSupported(a specs.Arch) bool {
	name, ok := seccompArchs[a]
	if !ok {
		return false
	}
	arch, err := libseccomp.GetArchFromString(name)
	if err != nil {
		return false
	}
	f, err := libseccomp.NewFilter(libseccomp.ActAllow)
	if err != nil {
		return false
	}
	defer f.Release()
	return f.AddArch(arch) == nil
}

func validateSeccompAction(field string, a specs.LinuxSeccompAction) error {
	if a == "" {
		return configErrorf(field, "must be set")
	}
	if a == specs.ActNotify {
		return unsupported(field, "SCMP_ACT_NOTIFY (a seccomp notify listener)")
	}
	if _, ok := seccompActions[a]; !ok {
		return configErrorf(field, "unknown action %q", a)
	}
	return nil
}

// maxErrno is the largest errno the kernel returns from a filter.
const maxErrno = 4095

func validateErrnoRet(field string, a specs.LinuxSeccompAction, ret *uint) error {
	switch {
	case ret == nil:
		return nil
	case !returnsErrno(a):
		return configErrorf(field, "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not %s", a)
	case *ret > maxErrno:
		return configErrorf(field, "must be at most %d, got %d", maxErrno, *ret)
	}
	return nil
}

func returnsErrno(a specs.LinuxSeccompAction) bool { return a == specs.ActErrno || a == specs.ActTrace }

func joinFlags(fl []specs.LinuxSeccompFlag) string {
	s := make([]string, len(fl))
	for i, f := range fl {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// seccompAction returns the libseccomp action, with errnoRet (default
// EPERM) as the errno of ERRNO and the message of TRACE.
func seccompAction(a specs.LinuxSeccompAction, errnoRet *uint) libseccomp.ScmpAction {
	act := seccompActions[a]
	if returnsErrno(a) {
		ret := int16(unix.EPERM)
		if errnoRet != nil {
			ret = int16(*errnoRet)
		}
		act = act.SetReturnCode(ret)
	}
	return act
}

// newSeccompFilter compiles a validated linux.seccomp into a libseccomp
// filter, not loaded yet. Syscall names this libseccomp does not know are
// skipped, as runc does (profiles list syscalls of newer kernels). A rule
// whose action is the default action is redundant and skipped (libseccomp
// refuses it). Conditions on distinct arguments are ANDed in one rule;
// when several test the same argument, each becomes its own rule (ORed),
// as in runc, since libseccomp cannot AND two conditions on one argument.
// The no_new_privs attribute is off: process.noNewPrivileges decides it.
func newSeccompFilter(s *specs.LinuxSeccomp) (_ *libseccomp.ScmpFilter, retErr error) {
	def := seccompAction(s.DefaultAction, s.DefaultErrnoRet)
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: create filter: %w", err)
	}
	defer func() {
		if retErr != nil {
			f.Release()
		}
	}()
	for i, a := range s.Architectures {
		arch, err := libseccomp.GetArchFromString(seccompArchs[a])
		if err == nil {
			err = f.AddArch(arch)
		}
		if err != nil {
			return nil, fmt.Errorf("linux.seccomp.architectures[%d] %s: %w", i, a, err)
		}
	}
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return nil, fmt.Errorf("linux.seccomp: clear the no_new_privs attribute: %w", err)
	}
	for i, fl := range s.Flags {
		switch fl {
		case specs.LinuxSeccompFlagLog:
			err = f.SetLogBit(true)
		case specs.LinuxSeccompFlagSpecAllow:
			err = f.SetSSB(true)
		}
		if err != nil {
			return nil, fmt.Errorf("linux.seccomp.flags[%d] %s: %w", i, fl, err)
		}
	}
	for i, call := range s.Syscalls {
		if err := addSeccompRule(f, def, call); err != nil {
			return nil, fmt.Errorf("linux.seccomp.syscalls[%d]: %w", i, err)
		}
	}
	return f, nil
}

func addSeccompRule(f *libseccomp.ScmpFilter, def libseccomp.ScmpAction, call specs.LinuxSyscall) error {
	act := seccompAction(call.Action, call.ErrnoRet)
	if act == def {
		return nil
	}
	var conds []libseccomp.ScmpCondition
	perArg := map[uint]int{}
	for j, arg := range call.Args {
		values := []uint64{arg.Value}
		if arg.Op == specs.OpMaskedEqual {
			values = append(values, arg.ValueTwo) // value is the mask, valueTwo the datum
		}
		c, err := libseccomp.MakeCondition(arg.Index, seccompOperators[arg.Op], values...)
		if err != nil {
			return fmt.Errorf("args[%d]: %w", j, err)
		}
		conds = append(conds, c)
		perArg[arg.Index]++
	}
	separate := false
	for _, n := range perArg {
		separate = separate || n > 1
	}
	for _, name := range call.Names {
		nr, err := libseccomp.GetSyscallFromName(name)
		if err != nil {
			continue // unknown here: skipped, see newSeccompFilter
		}
		switch {
		case len(conds) == 0:
			err = f.AddRule(nr, act)
		case separate:
			for _, c := range conds {
				if err = f.AddRuleConditional(nr, act, []libseccomp.ScmpCondition{c}); err != nil {
					break
				}
			}
		default:
			err = f.AddRuleConditional(nr, act, conds)
		}
		if err != nil {
			return fmt.Errorf("add rule for %s: %w", name, err)
		}
	}
	return nil
}
