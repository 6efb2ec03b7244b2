"""Trainers (pretrain, adapt, finetune), one generic fit loop, schedules and checkpoints."""
