//! candle models: MLP encoder/decoder, masking pretext tasks, contrastive heads and losses.
