"""nn.Modules and their configs: user tower, item tower, gradient reversal, discriminator."""
