"""`tfgen cost`, beside the stages: the monthly estimate from a valid spec and the price book (model),
its table and JSON (view), and the scenarios both offer."""
