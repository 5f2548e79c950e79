"""Fixtures for the ImageNet evaluation-transform test (crates/data/tests/pil_eval.rs).

Re-encodes real photographs at ImageNet's typical size (500x375 and 375x500, quality 90) as the
kinds of JPEG ILSVRC-2012 holds (baseline, progressive, greyscale, CMYK), and writes for each
torchvision's evaluation transform on the PIL image, Resize(256) then CenterCrop(224), before
normalisation, as a PNG. The Rust test needs no Python: only these files.

    python3 benches/peer/make_jpeg_fixtures.py PHOTO1 PHOTO2 OUT_DIR
    python3 benches/peer/make_jpeg_fixtures.py --png OUT_DIR   # the PNG named .JPEG

`--png` writes landscape_png.JPEG, a PNG of landscape_baseline.jpg as PIL decodes it (ILSVRC-2012
holds one PNG under a .JPEG name), and its reference, from the fixtures already in OUT_DIR.

The committed fixtures come from two photographs in the `image` (0.24.9, examples/scaledown/
test.jpg) and `jpeg-decoder` (0.3.2, benches/large_image.jpg) crates' sources, MIT/Apache-2.0.
"""
import sys, os
from PIL import Image
from torchvision.transforms import Resize, CenterCrop, Compose

ref = Compose([Resize(256), CenterCrop(224)])
if sys.argv[1] == "--png":
    out = sys.argv[2]
    path = os.path.join(out, "landscape_png.JPEG")
    Image.open(os.path.join(out, "landscape_baseline.jpg")).convert("RGB").save(path, format="PNG")
    ref(Image.open(path).convert("RGB")).save(os.path.join(out, "landscape_png_eval.png"))
    sys.exit(0)
a, b, out = sys.argv[1:4]
os.makedirs(out, exist_ok=True)
photos = {
    "landscape": Image.open(a).convert("RGB").resize((500, 375), Image.BICUBIC),
    "portrait": Image.open(b).convert("RGB").crop((600, 0, 1600, 1333)).resize((375, 500), Image.BICUBIC),
}
for name, im in photos.items():
    variants = {
        "baseline": (im, {}),
        "progressive": (im, {"progressive": True}),
        "grey": (im.convert("L"), {}),
        "cmyk": (im.convert("CMYK"), {}),
    }
    for kind, (img, extra) in variants.items():
        path = os.path.join(out, f"{name}_{kind}.jpg")
        img.save(path, quality=90, **extra)
        # the reference reads the file back, as torchvision's loader does (PIL, then RGB)
        ref(Image.open(path).convert("RGB")).save(os.path.join(out, f"{name}_{kind}_eval.png"))
