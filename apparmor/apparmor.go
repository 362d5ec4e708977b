// Package apparmor confines a container process with an AppArmor profile
// (process.apparmorProfile): the container's init asks the kernel to switch
// to the profile at its next execve.
package apparmor
