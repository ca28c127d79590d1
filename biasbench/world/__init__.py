"""The embedded synthetic static-bias world: generator, writer, tiny-CLIP pretraining."""
