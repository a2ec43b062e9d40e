package etc

import _ "embed"

//go:embed dlvm.conf.sample
var sample []byte

// Sample returns etc/dlvm.conf.sample: every option with its default and a one-line
// description, commented out (for `dlvm` to print, or packagers to install).
func Sample() []byte { return append([]byte(nil), sample...) }
