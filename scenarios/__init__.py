"""pstnsim's harness: chaos scenarios, invariant and history checkers, the runner and its reports."""
