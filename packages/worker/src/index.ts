// The package is being built; see docs/architecture.md for what it will own.
export {};
