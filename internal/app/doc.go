// Package app wires the platform together and implements the commands of the
// regcase binary. Run is the whole program; main only calls it.
package app
