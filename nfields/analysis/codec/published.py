"""Published rate-distortion points on Kodak (24 images, mean bpp and mean PSNR in dB), from the papers'
repositories, for comparison beside the project's own measurements."""

from __future__ import annotations

# COIN's baselines/jpeg.json ("JPEG. Pillow version 7.1.2", from CompressAI's benchmark: PIL quality 5..95)
COIN_JPEG = {
    "bpp": [0.2212, 0.3266, 0.4231, 0.5084, 0.5879, 0.6601, 0.7289, 0.7860, 0.8497, 0.9060, 0.9644, 1.0372,
            1.1274, 1.2398, 1.3688, 1.5718, 1.8588, 2.3502, 3.4013],
    "psnr": [23.780, 26.577, 28.042, 29.042, 29.785, 30.378, 30.903, 31.308, 31.705, 32.059, 32.399, 32.790,
             33.235, 33.793, 34.394, 35.239, 36.329, 37.912, 40.557],
}  # fmt: skip
# COIN's results.json (fp16 SIREN weights, one point per architecture, smallest first)
COIN = {
    "bpp": [0.0368, 0.07361, 0.1604, 0.3074, 0.6109, 1.209],
    "psnr": [22.408, 23.205, 24.641, 26.412, 28.408, 30.644],
}
# COIN++'s results/kodak/coinpp.json (meta-learned modulations, quantised and entropy-coded)
COINPP = {"bpp": [0.067, 0.132, 0.266, 0.398, 0.537], "psnr": [23.68, 24.93, 26.14, 27.03, 27.80]}
# COIN++'s results/kodak/bpg_444_x265_ycbcr.json (BPG 4:4:4, x265)
BPG = {"bpp": [0.068, 0.161, 0.352, 0.685], "psnr": [26.20, 28.68, 31.60, 34.86]}
# label -> points, as scripts/rd.py draws them (markers, "published")
PUBLISHED = {"COIN": COIN, "COIN++": COINPP, "JPEG (COIN's jpeg.json)": COIN_JPEG, "BPG 4:4:4": BPG}
