// Package tempest holds dlvm's conformance tests: Go end-to-end tests that start the real `dlvm`
// binary and drive it only through public clients (gophercloud v2, plain HTTP), and, from issue 3
// on, the runner of upstream Tempest's volume API tests. It never imports dlvm's server packages.
package tempest
