package libct

import (
	"errors"

	"github.com/hullrt/hull/libct/configs"
)

// applyLSMLabels sets the AppArmor profile and SELinux label that the
// kernel applies at execve.
func applyLSMLabels(p *configs.Process) error {
	if p.ApparmorProfile != "" {
		return stage("apparmor", errors.New("not wired yet"))
	}
	if p.SelinuxLabel != "" {
		return stage("selinux", errors.New("not wired yet"))
	}
	return nil
}

// loadSeccomp loads linux.seccomp for the process, if any.
func loadSeccomp(in *initProc) error {
	if in.cfg.Seccomp == nil {
		return nil
	}
	return stage("seccomp", errors.New("not wired yet"))
}
