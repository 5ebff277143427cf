/** Test doubles and helpers shipped for users' own tests (`agent-os-kernel/testing`). */
export {};
