"""Segment Anything on the GPU workers: the checkpoint, the image encoder, the decoder's ONNX export, and the
jobs that embed observations, pre-label them and carry labels forward to the next date."""
