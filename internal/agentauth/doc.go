// Package agentauth authenticates and fences the HTTP calls volume managers make to dpv agents
// and connector daemons.
//
// Authentication: with a shared secret, the client signs every request with an HMAC-SHA256 of
// its method, request URI, timestamp, a random nonce, the fencing headers and a SHA-256 of the
// body (Sign); the server (Verifier) refuses a missing or wrong signature, a timestamp outside
// its replay window, and a nonce it has already seen inside that window. Mutual TLS with an
// operator's CA (ServerTLS, ClientTLS) may be used instead or as well.
//
// Fencing: a manager that claims work on a volume bumps the volume's epoch in the database and
// runs the work with WithEpoch; SetEpoch puts the epoch on each request and the server's Fence
// remembers the highest epoch it has seen per volume and refuses lower ones (ErrStaleEpoch), so
// a manager that lost its claim (paused, partitioned, declared dead and replaced) cannot act on
// the volume any more.
//
// The package imports nothing of dlvm; server and client sides (volume/agent, connector/daemon)
// both use it.
package agentauth
