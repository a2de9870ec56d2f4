module baton.dev/scripts/re2-golden

go 1.26
