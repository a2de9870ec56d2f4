// The pod sandbox process of the real-node test's pause image (e2e/tools/images.sh).
module baton.local/tools/pause

go 1.25.0
