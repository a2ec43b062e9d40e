// Package layering holds no code, only a test that keeps dlvm's import graph pointing one way
// (see its table). Shared types sit at the bottom (model, etc, internal/runner), the database
// and identity above them, the service layer and the manager above those, the REST layer above
// that, and cmd/dlvm, which wires everything, on top. connector and tempest never import a
// server package.
package layering
