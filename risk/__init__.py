"""Risk manager: sizing, liquidation math and limits. Pure: no I/O."""
