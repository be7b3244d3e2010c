"""A procedural eye renderer in the spirit of UnityEyes, in numpy.

It makes the training data that does not exist offline: the same eye at two
gaze directions (for gaze redirection), eyes with known openness, pupil size
and iris colour (for attribute vectors), and eyes with exact landmarks (for the
landmark regressor that refines Haar boxes).

Geometry, in "eye units" (the distance between the two eye corners is 1, the
origin midway between them, u toward the outer corner, v down, z toward the
camera; orthographic projection, which is what a 5 cm eye at portrait distance
looks like):

- the eyeball is a sphere of radius ~0.42 (24 mm ball, 29 mm lid fissure);
- the iris is a disc of radius ~0.2 on that sphere, perpendicular to the gaze
  and at depth sqrt(R^2 - r^2) from the centre: it moves and foreshortens with
  yaw and pitch because it is sampled on its plane per pixel;
- the corneal highlight is the mirror point of a corneal sphere (smaller radius
  than the ball, so it moves less than the iris, as on real eyes);
- the lids are curves between the fixed corners; the upper lid follows the
  vertical position of the iris (it lowers when the eye looks down), the lower
  lid follows less, and openness blends the upper lid down onto the lower one
  (0 is a blink, where no eyeball pixel is left);
- skin shading comes from a height field (eyeball bulge, lid crease, brow
  ridge, tear trough) lit by the same light as the eyeball.

Appearance (colours, shapes, lighting, texture seed, jitter of scale, rotation
and position, blur, noise, JPEG quality, colour cast) is an `EyeAppearance`;
what an edit changes is an `EyeLook`. Everything is deterministic: textures
come from `EyeAppearance.texture_seed`, per-render noise from `seed`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

# Landmarks per lid (interior points, from the inner to the outer corner).
LID_POINTS = 7

# The canonical crop frame: corners at these fractions of (W, H); see align.py,
# which imports them so the two files cannot disagree.
INNER_CORNER = (0.2, 0.55)
OUTER_CORNER = (0.8, 0.55)

_BALL_RADIUS = 0.42
_IRIS_RADIUS = 0.2


@dataclass(frozen=True)
class EyeLook:
    """What gaze and attribute edits change."""

    yaw: float = 0.0  # degrees; + turns the iris toward image right (in the crop frame)
    pitch: float = 0.0  # degrees; + looks up (upper lid rises with it, lowers for down)
    openness: float = 1.0  # 0 = closed (blink) .. 1 = normally open .. ~1.2 wide
    pupil: float = 0.45  # pupil radius / iris radius, 0.2 .. 0.75


@dataclass(frozen=True)
class EyeAppearance:
    """The identity of one eye and its photograph, fixed across a pair.

    Colours are RGB in [0, 1]. Lengths are in eye units (corner distance 1)
    unless said otherwise.
    """

    iris_colour: tuple[float, float, float] = (0.35, 0.22, 0.12)
    iris_inner_colour: tuple[float, float, float] = (0.45, 0.3, 0.12)  # ring around the pupil
    iris_inner_amount: float = 0.3  # 0 = uniform iris .. 1 = strong central ring
    iris_texture: float = 0.5  # contrast of the radial fibres
    limbal_ring: float = 0.5  # darkness of the iris rim
    iris_scale: float = 1.0  # iris radius relative to the average (~11.8 mm)
    sclera_colour: tuple[float, float, float] = (0.86, 0.82, 0.78)
    veins: float = 0.3
    skin_colour: tuple[float, float, float] = (0.78, 0.58, 0.48)
    skin_texture: float = 0.3
    upper_lid: float = 0.18  # upper lid height above the corner line when open
    lower_lid: float = 0.13  # lower lid depth below the corner line
    lid_peak: float = 0.45  # where along the eye (0 inner, 1 outer) the upper lid is highest
    crease: float = 0.5  # depth of the upper-lid crease (0 = none, a monolid)
    crease_height: float = 0.12  # crease distance above the upper lid
    lashes: float = 0.6  # eyelash length/density
    lash_darkness: float = 0.85
    brow: float = 0.6  # eyebrow density (0 = none in the crop)
    brow_height: float = 0.72  # eyebrow distance above the corner line
    brow_colour: tuple[float, float, float] = (0.18, 0.12, 0.08)
    light_direction: tuple[float, float, float] = (-0.3, -0.5, 0.8)  # toward the light (u, v, z)
    light_strength: float = 0.75
    ambient: float = 0.35
    light_colour: tuple[float, float, float] = (1.0, 1.0, 1.0)  # white balance / colour cast
    highlight: float = 0.8  # corneal highlight strength
    highlight_size: float = 0.025
    exposure: float = 1.0
    contrast: float = 1.0
    scale: float = 1.0  # corner distance relative to the canonical frame's
    rotation: float = 0.0  # degrees, of the eye's corner line in the crop
    shift: tuple[float, float] = (0.0, 0.0)  # offset of the eye centre, fractions of (W, H)
    blur: float = 0.4  # Gaussian blur sigma in pixels of a 64-px-wide crop
    noise: float = 0.01  # sensor noise standard deviation
    jpeg_quality: int = 0  # 0 = no JPEG round trip, else 1..100
    resolution: float = 1.0  # < 1: the eye was photographed this much smaller, then upscaled
    # Clutter real crops have: hair or background past an edge beyond the eye
    # (opacity 0 = none; the edge's normal angle in degrees, 0 = toward the
    # outer side, -90 = up; its distance from the eye centre), and the shadow
    # of the nose bridge on the inner side.
    hair: float = 0.0
    hair_angle: float = 0.0
    hair_edge: float = 0.8
    hair_colour: tuple[float, float, float] = (0.25, 0.17, 0.1)
    nose_shadow: float = 0.0
    # Glasses (`glasses` is the frame's opacity, 0 = none): a lens rim, a
    # rounded rectangle around the eye centred at `glasses_centre` with half
    # sizes `glasses_size` (u, v); its top bar `glasses_top` thick, the rest
    # `glasses_rim`, the lower half at `glasses_lower` of the opacity (clear
    # plastic); the bridge toward the nose and the temple arm outward; a lens
    # tint and a glint streak across the lens.
    glasses: float = 0.0
    glasses_centre: tuple[float, float] = (0.05, 0.08)
    glasses_size: tuple[float, float] = (0.8, 0.5)
    glasses_top: float = 0.06
    glasses_rim: float = 0.02
    glasses_lower: float = 1.0
    glasses_colour: tuple[float, float, float] = (0.08, 0.06, 0.05)
    glasses_tint: float = 0.0
    glasses_glint: float = 0.0
    glasses_glint_line: tuple[float, float] = (30.0, 0.0)  # angle in degrees, offset in eye units
    texture_seed: int = 0

    @staticmethod
    def random(rng: np.random.Generator) -> EyeAppearance:
        """A random eye and photograph, spread toward real portrait statistics."""
        return _random_appearance(rng)


@dataclass(frozen=True)
class EyeLandmarks:
    """Pixel coordinates (x, y) in the rendered crop (pixel centres at integers)."""

    corners: np.ndarray  # (2, 2): [inner corner, outer corner]
    upper_lid: np.ndarray  # (K, 2) from inner to outer corner (interior points)
    lower_lid: np.ndarray  # (K, 2)
    iris_centre: np.ndarray  # (2,)
    iris_radius: float  # of the iris disc (not foreshortened), in pixels

    def as_array(self) -> np.ndarray:
        """(2 + 2K + 1, 2) float32: corners, upper lid, lower lid, iris centre."""
        return np.concatenate(
            [self.corners, self.upper_lid, self.lower_lid, self.iris_centre[None]]
        ).astype(np.float32)


# -- random appearance ----------------------------------------------------------

# Iris colour families (rough sRGB of photographed irises) with how common they are.
_IRIS_FAMILIES = (
    ((0.22, 0.13, 0.07), 0.35),  # dark brown
    ((0.38, 0.24, 0.12), 0.22),  # brown
    ((0.42, 0.36, 0.2), 0.1),  # hazel
    ((0.3, 0.38, 0.25), 0.08),  # green
    ((0.35, 0.45, 0.55), 0.14),  # blue
    ((0.45, 0.48, 0.5), 0.06),  # grey
    ((0.12, 0.08, 0.05), 0.05),  # near black
)
# Skin tones from light to dark (sRGB of lit facial skin).
_SKIN_TONES = (
    (0.93, 0.76, 0.66),
    (0.86, 0.66, 0.55),
    (0.78, 0.58, 0.46),
    (0.66, 0.46, 0.34),
    (0.5, 0.34, 0.24),
    (0.34, 0.22, 0.15),
)


def _jitter_colour(
    rng: np.random.Generator, rgb: tuple[float, float, float], amount: float
) -> tuple[float, float, float]:
    c = np.asarray(rgb) * rng.uniform(1 - amount, 1 + amount) + rng.normal(0, amount / 4, 3)
    r, g, b = (float(x) for x in np.clip(c, 0.0, 1.0))
    return (r, g, b)


def _random_appearance(rng: np.random.Generator) -> EyeAppearance:
    probs = np.array([p for _, p in _IRIS_FAMILIES])
    iris = _IRIS_FAMILIES[int(rng.choice(len(probs), p=probs / probs.sum()))][0]
    iris = _jitter_colour(rng, iris, 0.2)
    inner = _jitter_colour(rng, (0.42, 0.28, 0.12), 0.25)
    t = rng.uniform(0, len(_SKIN_TONES) - 1)
    i = min(int(t), len(_SKIN_TONES) - 2)
    skin_arr = (1 - (t - i)) * np.asarray(_SKIN_TONES[i]) + (t - i) * np.asarray(_SKIN_TONES[i + 1])
    skin = _jitter_colour(rng, (skin_arr[0], skin_arr[1], skin_arr[2]), 0.08)
    dark_skin = float(np.mean(skin))
    sclera = _jitter_colour(rng, (0.8, 0.76, 0.74), 0.08)
    # Hair from near black to light brown (one hue family: no purple brows).
    brow = tuple(float(c) for c in np.array([0.16, 0.11, 0.075]) * rng.uniform(0.3, 2.2))
    # Light mostly from the front and above; sometimes from a side.
    az = rng.uniform(-1.0, 1.0)
    el = rng.uniform(-0.9, 0.1)
    ld = np.array([az, el, rng.uniform(0.5, 1.2)])
    ld /= np.linalg.norm(ld)
    cast = np.clip(1.0 + rng.normal(0, 0.035, 3), 0.9, 1.1)
    cast /= cast.mean()
    jpeg = int(rng.integers(25, 96)) if rng.random() < 0.6 else 0
    return EyeAppearance(
        iris_colour=iris,
        iris_inner_colour=inner,
        iris_inner_amount=float(rng.uniform(0.0, 0.7)),
        iris_texture=float(rng.uniform(0.2, 0.8)),
        limbal_ring=float(rng.uniform(0.2, 0.8)),
        iris_scale=float(rng.uniform(0.92, 1.08)),
        sclera_colour=sclera,
        veins=float(rng.uniform(0.0, 0.7)),
        skin_colour=skin,
        skin_texture=float(rng.uniform(0.1, 0.5)),
        upper_lid=float(rng.uniform(0.14, 0.22)),
        lower_lid=float(rng.uniform(0.1, 0.17)),
        lid_peak=float(rng.uniform(0.38, 0.55)),
        crease=float(rng.uniform(0.0, 1.0)),
        crease_height=float(rng.uniform(0.06, 0.18)),
        lashes=float(rng.uniform(0.2, 1.0)),
        lash_darkness=float(rng.uniform(0.6, 0.95)),
        brow=float(rng.uniform(0.0, 1.0)),
        brow_height=float(rng.uniform(0.45, 0.8)),
        brow_colour=(
            min(brow[0], dark_skin * 0.6),
            min(brow[1], dark_skin * 0.45),
            min(brow[2], dark_skin * 0.35),
        ),
        light_direction=(float(ld[0]), float(ld[1]), float(ld[2])),
        light_strength=float(rng.uniform(0.5, 0.9)),
        ambient=float(rng.uniform(0.2, 0.45)),
        light_colour=(float(cast[0]), float(cast[1]), float(cast[2])),
        highlight=float(rng.uniform(0.3, 1.0)),
        highlight_size=float(rng.uniform(0.015, 0.04)),
        exposure=float(rng.uniform(0.75, 1.15)),
        contrast=float(rng.uniform(0.85, 1.15)),
        scale=float(rng.uniform(0.93, 1.07)),
        rotation=float(rng.normal(0.0, 3.0)),
        shift=(float(rng.normal(0.0, 0.015)), float(rng.normal(0.0, 0.02))),
        blur=float(rng.uniform(0.0, 1.2)),
        # Half the eyes come from small faces (an eye ~20 px wide in the photo).
        resolution=float(rng.uniform(0.4, 1.0)) if rng.random() < 0.5 else 1.0,
        noise=float(rng.uniform(0.0, 0.03)),
        jpeg_quality=jpeg,
        texture_seed=int(rng.integers(0, 2**31 - 1)),
        hair=float(rng.uniform(0.7, 1.0)) if rng.random() < 0.35 else 0.0,
        hair_angle=float(rng.uniform(-80.0, 30.0)),
        hair_edge=float(rng.uniform(0.58, 1.1)),
        hair_colour=tuple(  # type: ignore[arg-type]
            float(c) for c in np.array([0.25, 0.17, 0.1]) * rng.uniform(0.2, 2.8)
        )
        if rng.random() < 0.8
        else tuple(float(c) for c in rng.uniform(0.1, 0.9, 3)),
        nose_shadow=float(rng.uniform(0.0, 0.5)),
    )


# -- geometry -----------------------------------------------------------------


def _bump(t: np.ndarray, peak: float, power: float) -> np.ndarray:
    """A lid profile on t in [0, 1]: 0 at both ends, 1 at `peak`."""
    k = math.log(0.5) / math.log(min(max(peak, 0.05), 0.95))
    return np.sin(np.pi * np.clip(t, 0.0, 1.0) ** k) ** power


@dataclass(frozen=True)
class _Geometry:
    ball: tuple[float, float]  # eyeball centre (u, v)
    ball_radius: float
    iris_radius: float
    gaze: tuple[float, float, float]  # unit gaze (u, v, z)
    up_open_peak: float  # v of the open upper lid's highest point (negative)
    up_peak_at: float
    low_peak: float  # v of the lower lid's lowest point (positive)
    low_peak_at: float
    openness: float
    crease_v: float

    def iris_centre(self) -> tuple[float, float]:
        d = math.sqrt(self.ball_radius**2 - self.iris_radius**2)
        return (self.ball[0] + d * self.gaze[0], self.ball[1] + d * self.gaze[1])

    def lower(self, t: np.ndarray) -> np.ndarray:
        return self.low_peak * _bump(t, self.low_peak_at, 0.9)

    def upper(self, t: np.ndarray) -> np.ndarray:
        opened = self.up_open_peak * _bump(t, self.up_peak_at, 0.75)
        closed = self.lower(t)
        # A blink lowers the upper lid onto the lower one; never past it.
        return np.minimum(closed + self.openness * (opened - closed), closed)


def _geometry(app: EyeAppearance, look: EyeLook) -> _Geometry:
    yaw = math.radians(look.yaw)
    pitch = math.radians(look.pitch)
    gaze = (
        math.sin(yaw) * math.cos(pitch),
        -math.sin(pitch),
        math.cos(yaw) * math.cos(pitch),
    )
    ball_r = _BALL_RADIUS
    iris_r = _IRIS_RADIUS * app.iris_scale
    ball = (0.0, -0.02)
    d = math.sqrt(ball_r**2 - iris_r**2)
    iris_du, iris_dv = d * gaze[0], d * gaze[1]
    # The upper lid rides on the iris (~0.75 of its vertical travel), the lower
    # lid follows less; the upper lid's peak drifts toward the iris.
    return _Geometry(
        ball=ball,
        ball_radius=ball_r,
        iris_radius=iris_r,
        gaze=gaze,
        up_open_peak=-app.upper_lid + 0.75 * iris_dv,
        up_peak_at=float(np.clip(app.lid_peak + 0.5 * iris_du, 0.25, 0.75)),
        low_peak=max(0.03, app.lower_lid + 0.3 * iris_dv),
        low_peak_at=float(np.clip(0.55 + 0.3 * iris_du, 0.3, 0.75)),
        openness=max(0.0, float(look.openness)),
        crease_v=-app.upper_lid - app.crease_height + 0.3 * iris_dv,
    )


def _frame(app: EyeAppearance, size: tuple[int, int]) -> tuple[float, np.ndarray, np.ndarray]:
    """(corner distance in px, eye midpoint (2,) px, (2, 2) rows = u and v axes in px)."""
    h, w = size
    length = (OUTER_CORNER[0] - INNER_CORNER[0]) * w * app.scale
    mid = np.array(
        [
            0.5 * (INNER_CORNER[0] + OUTER_CORNER[0]) * w + app.shift[0] * w,
            INNER_CORNER[1] * h + app.shift[1] * h,
        ]
    )
    r = math.radians(app.rotation)
    axes = np.array([[math.cos(r), math.sin(r)], [-math.sin(r), math.cos(r)]])
    return length, mid, axes


def landmarks(
    appearance: EyeAppearance, look: EyeLook, size: tuple[int, int] = (48, 64)
) -> EyeLandmarks:
    """The exact landmarks of `render_eye(appearance, look, size)`, without rendering."""
    geo = _geometry(appearance, look)
    length, mid, axes = _frame(appearance, size)

    def to_px(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return mid + length * (u[:, None] * axes[0] + v[:, None] * axes[1])

    t = np.arange(1, LID_POINTS + 1) / (LID_POINTS + 1)
    iu, iv = geo.iris_centre()
    return EyeLandmarks(
        corners=to_px(np.array([-0.5, 0.5]), np.zeros(2)),
        upper_lid=to_px(t - 0.5, geo.upper(t)),
        lower_lid=to_px(t - 0.5, geo.lower(t)),
        iris_centre=to_px(np.array([iu]), np.array([iv]))[0],
        iris_radius=float(geo.iris_radius * length),
    )


# -- textures -----------------------------------------------------------------


def _value_noise(rng: np.random.Generator, cells: tuple[int, int], size: tuple[int, int]):  # type: ignore[no-untyped-def]
    import cv2

    grid = rng.random(cells).astype(np.float32)
    return cv2.resize(grid, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)


# -- rendering ----------------------------------------------------------------


def _smooth(x: np.ndarray) -> np.ndarray:
    """Antialiased coverage from a signed distance in pixels (+ inside)."""
    return np.clip(x + 0.5, 0.0, 1.0)


def render_eye(
    appearance: EyeAppearance,
    look: EyeLook,
    size: tuple[int, int] = (48, 64),
    seed: int = 0,
) -> tuple[np.ndarray, EyeLandmarks]:
    """(H, W, 3) float32 RGB in [0, 1] of one eye in the canonical crop frame (see align.py),
    and its exact landmarks. `seed` drives only per-render noise (sensor noise, blur)."""
    import cv2

    app = appearance
    h, w = size
    if h < 8 or w < 8:
        raise ValueError(f"render size {size} is too small (at least 8 x 8)")
    geo = _geometry(app, look)
    length, mid, axes = _frame(app, size)
    tex = np.random.default_rng(app.texture_seed)

    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xs - mid[0], ys - mid[1]
    u = (dx * axes[0, 0] + dy * axes[0, 1]) / length
    v = (dx * axes[1, 0] + dy * axes[1, 1]) / length
    px = 1.0 / length  # one pixel in eye units
    t = np.clip(u + 0.5, 0.0, 1.0)
    y_up = geo.upper(t)
    y_low = geo.lower(t)

    light = np.asarray(app.light_direction, np.float32)
    light /= np.linalg.norm(light)

    # --- eyeball: sclera shaded as a sphere, veins, shadow under the upper lid
    bu, bv = u - geo.ball[0], v - geo.ball[1]
    nz = np.sqrt(np.clip(1.0 - (bu * bu + bv * bv) / geo.ball_radius**2, 0.0, 1.0))
    lam = np.clip((light[0] * bu + light[1] * bv) / geo.ball_radius + light[2] * nz, 0.0, 1.0)
    shade = app.ambient + app.light_strength * (0.35 + 0.65 * lam)
    vein_field = _value_noise(tex, (7, 9), size)
    vein = np.exp(-(((vein_field - 0.5) / 0.035) ** 2))
    vein *= app.veins * np.clip(np.abs(u) * 2.2 - 0.25, 0.0, 1.0)
    sclera = np.asarray(app.sclera_colour, np.float32)
    eye = sclera * shade[..., None]
    eye = (
        eye * (1 - 0.5 * vein[..., None])
        + 0.5 * vein[..., None] * np.array([0.75, 0.25, 0.25], np.float32) * shade[..., None]
    )
    # Corners: the caruncle (pink) at the inner one, darker recess at both.
    car = np.exp(-(((u + 0.47) / 0.06) ** 2 + (v / 0.06) ** 2))
    caruncle = np.asarray(app.skin_colour, np.float32) * np.array([1.05, 0.62, 0.6], np.float32)
    eye = eye * (1 - 0.8 * car[..., None]) + 0.8 * car[..., None] * caruncle * shade[..., None]
    eye *= (1.0 - 0.45 * np.clip((np.abs(u) - 0.22) / 0.28, 0.0, 1.0))[..., None]

    # --- iris and pupil: sampled on the iris plane (perpendicular to the gaze)
    gu, gv, gz = geo.gaze
    iu, iv = geo.iris_centre()
    du, dv = u - iu, v - iv
    dz = -(gu * du + gv * dv) / gz
    rho = np.sqrt(du * du + dv * dv + dz * dz) / geo.iris_radius
    # In-plane angle: basis b1 = normalize(y_axis x g) (horizontal in the disc), b2 = g x b1.
    b1 = np.array([gz, 0.0, -gu])
    b1 /= np.linalg.norm(b1)
    b2 = np.cross(np.array([gu, gv, gz]), b1)
    ang = np.arctan2(du * b2[0] + dv * b2[1] + dz * b2[2], du * b1[0] + dv * b1[1] + dz * b1[2])
    n_ang = 96
    fibres = tex.random((6, n_ang)).astype(np.float32)
    # Soften along the angle (wrapping) so fibres are a few samples wide.
    fibres = 0.5 * fibres + 0.25 * (np.roll(fibres, 1, axis=1) + np.roll(fibres, -1, axis=1))
    map_x = ((ang / (2 * np.pi) + 0.5) * n_ang).astype(np.float32)
    map_y = np.clip(rho * 5.0, 0.0, 5.0).astype(np.float32)
    fib = cv2.remap(fibres, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    iris_col = np.asarray(app.iris_colour, np.float32)
    inner_col = np.asarray(app.iris_inner_colour, np.float32)
    pupil_r = float(np.clip(look.pupil, 0.1, 0.85))
    ring = app.iris_inner_amount * np.clip(1.0 - (rho - pupil_r) / 0.3, 0.0, 1.0)
    iris = iris_col * (1 - ring[..., None]) + inner_col * ring[..., None]
    iris = iris * (1.0 + app.iris_texture * 1.2 * (fib - 0.5))[..., None]
    limbal = 1.0 - app.limbal_ring * 0.8 * np.clip((rho - 0.78) / 0.22, 0.0, 1.0)
    iris_light = app.ambient + app.light_strength * (0.5 + 0.5 * max(float(light @ geo.gaze), 0))
    iris = iris * (limbal * iris_light)[..., None]
    edge_px = geo.iris_radius / px
    in_iris = _smooth((1.0 - rho) * edge_px)
    in_pupil = _smooth((pupil_r - rho) * edge_px)
    pupil_col = np.array([0.025, 0.022, 0.022], np.float32)
    iris = iris * (1 - in_pupil[..., None]) + pupil_col * in_pupil[..., None]
    eye = eye * (1 - in_iris[..., None]) + iris * in_iris[..., None]

    # --- corneal highlight: mirror point of a corneal sphere
    rc = 0.65 * geo.ball_radius
    apex = 1.08 * geo.ball_radius
    half = light + np.array([0.0, 0.0, 1.0], np.float32)
    half /= np.linalg.norm(half)
    hu = geo.ball[0] + (apex - rc) * gu + rc * half[0]
    hv = geo.ball[1] + (apex - rc) * gv + rc * half[1]
    spot = np.exp(-((u - hu) ** 2 + (v - hv) ** 2) / (2 * app.highlight_size**2))
    eye = eye + (app.highlight * spot)[..., None] * np.asarray(app.light_colour, np.float32)

    # Shadow cast by the upper lid and its lashes on the eyeball.
    lid_shadow = np.exp(-np.clip(v - y_up, 0.0, None) / 0.05)
    eye *= (1.0 - 0.45 * lid_shadow)[..., None]

    # --- skin: a height field lit by the same light
    skin_noise = _value_noise(tex, (12, 16), size) - 0.5
    fine = _value_noise(tex, (max(2, h // 2), max(2, w // 2)), size) - 0.5
    # The lids drape over the eyeball: a smooth bump (no rim: a sphere cap's
    # edge would draw a ring on the skin).
    bulge = np.exp(-((u / 0.42) ** 2) - ((v + 0.02) / 0.3) ** 2)
    crease_t = _bump(t, geo.up_peak_at, 0.6)
    crease_v = geo.crease_v * crease_t - 0.02 * (1 - crease_t)
    hgt = 0.12 * bulge
    # The crease fades out toward the corners (no hard end, nothing beyond them).
    # Truncated at 4 widths, so skin far from the lid is bit-identical across gazes.
    crease_d = np.minimum(np.abs(v - crease_v) / 0.035, 4.0)
    crease_line = (np.exp(-(crease_d**2)) - np.exp(-16.0)) * np.sqrt(crease_t)
    hgt -= 0.05 * app.crease * crease_line
    hgt += 0.25 / (1.0 + np.exp((v + app.brow_height - 0.05) / 0.08))  # brow ridge
    hgt -= 0.03 * np.exp(-(((v - 0.32) / 0.08) ** 2) - (u / 0.6) ** 2)  # tear trough
    gy_, gx_ = np.gradient(hgt / px)
    # Gradient in pixel steps -> normal in (u, v) space.
    nu, nv = -gx_, -gy_
    norm = np.sqrt(nu * nu + nv * nv + 1.0)
    skin_lam = np.clip((light[0] * nu + light[1] * nv + light[2]) / norm, 0.0, 1.0)
    skin_shade = app.ambient + app.light_strength * skin_lam
    skin = np.asarray(app.skin_colour, np.float32) * skin_shade[..., None]
    skin = skin * (1.0 + app.skin_texture * (0.35 * skin_noise + 0.25 * fine))[..., None]
    # Darker, redder lid margin skin near the opening.
    # Compact support: skin farther than 0.06 from the opening never changes with it.
    inside = np.minimum(np.minimum(v - y_up, y_low - v), 0.5 - np.abs(u))
    margin = np.clip(1.0 + inside / 0.06, 0.0, 1.0) ** 2
    margin *= np.clip((0.5 - np.abs(u)) / 0.05, 0.0, 1.0)
    skin *= (1.0 - 0.15 * margin)[..., None]
    if app.nose_shadow > 0:
        skin *= (1.0 - app.nose_shadow * np.clip((-u - 0.6) / 0.5, 0.0, 1.0))[..., None]
    if app.hair > 0:
        # Past a wavy edge beyond the eye: hair (strands) or background.
        a = math.radians(app.hair_angle)
        across = u * math.cos(a) + v * math.sin(a)
        wave = 0.1 * (_value_noise(tex, (3, 4), size) - 0.5)
        cover = app.hair * _smooth((across - app.hair_edge - wave) / px * 0.7)
        strands = _value_noise(tex, (max(2, h // 6), max(2, w // 2)), size)
        hair_col = np.asarray(app.hair_colour, np.float32) * (0.6 + 0.7 * strands)[..., None]
        skin = (
            skin * (1 - cover[..., None])
            + hair_col * (0.5 + 0.5 * skin_shade)[..., None] * cover[..., None]
        )

    # --- compose the eye opening
    aperture = _smooth(inside / px)
    img = skin * (1 - aperture[..., None]) + eye * aperture[..., None]

    # Upper lid margin and lashes: a dark band above the margin (below it when
    # the eye closes), with strands from a stripe pattern slanting outward.
    op = float(np.clip(geo.openness, 0.0, 1.0))
    lash_len = app.lashes * 0.09 * (0.4 + 0.6 * _bump(t, 0.65, 0.5))
    s = y_up - v  # height above the upper lid margin
    reach = np.where(s >= 0, lash_len * (0.3 + 0.7 * op), lash_len * 0.8 * (1 - op))
    dist = np.abs(s)
    band = _smooth((reach - dist) / px) * (np.abs(u) < 0.5)
    strands = 0.5 + 0.5 * np.sin((u + 0.8 * np.abs(s)) * 2 * np.pi * 45 + tex.uniform(0, 6.28))
    lash = band * (0.55 + 0.45 * strands) * np.clip(1.2 - dist / np.maximum(reach, 1e-6), 0, 1)
    margin_line = _smooth((0.018 - dist) / px) * (np.abs(u) < 0.5)
    lash = np.maximum(lash, margin_line * 0.9) * app.lash_darkness
    lower_s = v - y_low
    lower_lash = _smooth((0.025 * app.lashes - np.abs(lower_s - 0.012)) / px) * (np.abs(u) < 0.45)
    lash = np.maximum(lash, 0.35 * app.lash_darkness * lower_lash)
    lash_col = np.asarray(app.brow_colour, np.float32) * 0.4
    img = img * (1 - lash[..., None]) + lash_col * lash[..., None]

    # Eyebrow (often only its lower edge is inside the crop).
    if app.brow > 0:
        brow_v = -app.brow_height - 0.08 * np.sin(np.pi * np.clip(t * 1.2 - 0.1, 0, 1))
        brow_band = np.exp(-(((v - brow_v + 0.07) / 0.065) ** 2)) * np.clip(1.5 - np.abs(u), 0, 1)
        # Hairs slant outward and up: stripes along that direction, broken by noise.
        phase = (u * 0.9 + (v - brow_v) * 0.5) * 2 * np.pi * 22
        hair = 0.5 + 0.5 * np.sin(phase + 3.0 * _value_noise(tex, (4, 6), size))
        brow_mask = np.clip(app.brow * brow_band * (0.55 + 0.45 * hair), 0.0, 0.95)
        img = img * (1 - brow_mask[..., None]) + np.asarray(app.brow_colour) * brow_mask[..., None]

    if app.glasses > 0:
        img = _draw_glasses(img, app, u, v, px, tex, size)

    # --- the photograph: colour cast, exposure, contrast, blur, noise, JPEG
    img = img * np.asarray(app.light_colour, np.float32) * app.exposure
    img = (img - 0.5) * app.contrast + 0.5
    img = np.clip(img, 0.0, 1.0).astype(np.float32)
    sigma = app.blur * w / 64.0
    if sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)
    # Noise and JPEG happen at the photo's own resolution; the crop is then
    # upscaled from it, as crops of small faces are.
    small = (max(4, round(w * app.resolution)), max(4, round(h * app.resolution)))
    low_res = app.resolution < 0.95
    if low_res:
        img = cv2.resize(img, small, interpolation=cv2.INTER_AREA)
    if app.noise > 0:
        noise_rng = np.random.default_rng(seed)
        sh = img.shape[:2]
        lum = noise_rng.normal(0.0, app.noise, (*sh, 1)).astype(np.float32)
        chroma = noise_rng.normal(0.0, app.noise * 0.4, (*sh, 3)).astype(np.float32)
        img = img + lum + chroma
    img = np.clip(img, 0.0, 1.0)
    if app.jpeg_quality > 0:
        u8 = np.round(img * 255.0).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", u8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, app.jpeg_quality])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            img = decoded[..., ::-1].astype(np.float32) / 255.0
    if low_res:
        img = np.clip(cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
    return np.ascontiguousarray(img, dtype=np.float32), landmarks(app, look, size)


def _draw_glasses(
    img: np.ndarray,
    app: EyeAppearance,
    u: np.ndarray,
    v: np.ndarray,
    px: float,
    tex: np.random.Generator,
    size: tuple[int, int],
) -> np.ndarray:
    """`img` (H, W, 3) with the glasses of `app` drawn over it (u, v: eye units per pixel)."""
    cu, cv = app.glasses_centre
    a, b = app.glasses_size
    qu, qv = (u - cu) / a, (v - cv) / b
    r = (np.abs(qu) ** 4 + np.abs(qv) ** 4) ** 0.25  # 1 on the rim: a rounded rectangle
    gy, gx = np.gradient(r)
    dist = (r - 1.0) / np.maximum(np.sqrt(gx * gx + gy * gy), 1e-6)  # signed, in pixels
    upper = np.clip(0.5 - 1.5 * qv, 0.0, 1.0)  # 1 along the top bar, 0 from mid-height down
    thick = (app.glasses_rim + (app.glasses_top - app.glasses_rim) * upper**2) / px
    cover = _smooth(0.5 * thick - np.abs(dist))
    # The bridge leaves the rim's inner side toward the nose, the temple arm
    # its outer top corner.
    bridge_v = cv - 0.45 * b
    half_bar = 0.5 * max(app.glasses_top, app.glasses_rim) / px
    bridge = _smooth(half_bar * 0.8 - np.abs(v - bridge_v) / px) * (u < cu - a)
    temple = _smooth(half_bar - np.abs(v - (cv - 0.75 * b)) / px) * (u > cu + a)
    cover = np.maximum(cover, np.maximum(bridge, temple))
    opacity = app.glasses * (app.glasses_lower + (1.0 - app.glasses_lower) * upper)
    cover = cover * opacity
    # Lens: a little tint inside, and a soft glint streak.
    lens = _smooth(-dist) * (1.0 - cover)
    if app.glasses_tint > 0:
        img = img * (1.0 - app.glasses_tint * lens)[..., None]
    if app.glasses_glint > 0:
        angle, offset = app.glasses_glint_line
        t = math.radians(angle)
        across = u * math.cos(t) + v * math.sin(t) - offset
        streak = np.exp(-((across / 0.08) ** 2)) * lens * app.glasses_glint
        img = img + streak[..., None] * np.clip(1.0 - img, 0.0, None)
    # The frame's colour, lit from above along the top bar, with a mottle
    # (tortoiseshell or worn metal).
    mottle = 0.75 + 0.5 * _value_noise(tex, (max(2, size[0] // 8), max(2, size[1] // 8)), size)
    sheen = (
        1.0 + 0.6 * np.exp(-(((dist + 0.25 * thick) / np.maximum(0.2 * thick, 0.5)) ** 2)) * upper
    )
    frame = np.asarray(app.glasses_colour, np.float32) * (mottle * sheen)[..., None]
    # Not clipped: a corneal highlight may exceed 1 before the exposure step.
    return (img * (1 - cover[..., None]) + frame * cover[..., None]).astype(np.float32)


def random_glasses(rng: np.random.Generator, app: EyeAppearance) -> EyeAppearance:
    """`app` wearing random glasses: dark or tortoiseshell plastic (a thick top
    bar, often a clear lower rim) or thin metal, the rim clear of the eye's
    opening (top above the raised upper lid, bottom below the lower lid, sides
    beyond the corners)."""
    kind = rng.random()
    if kind < 0.45:  # dark plastic
        colour = np.array([0.1, 0.08, 0.07]) * rng.uniform(0.3, 1.5)
        top, rim = rng.uniform(0.04, 0.13), rng.uniform(0.015, 0.05)
        lower = rng.uniform(0.15, 1.0) if rng.random() < 0.5 else 1.0
    elif kind < 0.7:  # tortoiseshell or coloured plastic
        colour = np.array([0.35, 0.2, 0.1]) * rng.uniform(0.4, 1.6)
        top, rim = rng.uniform(0.03, 0.1), rng.uniform(0.015, 0.045)
        lower = rng.uniform(0.2, 1.0)
    else:  # metal
        colour = np.full(3, rng.uniform(0.25, 0.85)) * np.array(
            [1.0, rng.uniform(0.8, 1.0), rng.uniform(0.55, 1.0)]
        )
        top = rim = rng.uniform(0.008, 0.025)
        lower = 1.0
    cu = rng.uniform(-0.05, 0.15)
    v_top, v_bottom = rng.uniform(-0.6, -0.3), rng.uniform(0.32, 0.75)
    return replace(
        app,
        glasses=float(rng.uniform(0.7, 1.0)),
        glasses_centre=(float(cu), float(0.5 * (v_top + v_bottom))),
        glasses_size=(float(rng.uniform(0.62, 1.0)), float(0.5 * (v_bottom - v_top))),
        glasses_top=float(top),
        glasses_rim=float(rim),
        glasses_lower=float(lower),
        glasses_colour=tuple(float(c) for c in np.clip(colour, 0.0, 1.0)),  # type: ignore[arg-type]
        glasses_tint=float(rng.uniform(0.0, 0.12)),
        glasses_glint=float(rng.uniform(0.1, 0.45)) if rng.random() < 0.5 else 0.0,
        glasses_glint_line=(float(rng.uniform(-60.0, 60.0)), float(rng.uniform(-0.5, 0.5))),
    )


def random_look(rng: np.random.Generator, max_angle: float = 20.0) -> EyeLook:
    """A random gaze within +-max_angle, with natural openness and pupil size."""
    return EyeLook(
        yaw=float(rng.uniform(-max_angle, max_angle)),
        pitch=float(rng.uniform(-max_angle, max_angle)),
        openness=float(np.clip(rng.normal(0.95, 0.12), 0.6, 1.2)),
        pupil=float(rng.uniform(0.25, 0.6)),
    )


def render_pair(
    seed: int,
    size: tuple[int, int] = (48, 64),
    max_angle: float = 20.0,
) -> tuple[np.ndarray, np.ndarray, EyeLook, EyeLook, EyeLandmarks, EyeLandmarks]:
    """The same eye (same appearance, same lighting) at two random gaze directions.

    Both images share the per-render noise too, so every pixel that the gaze
    does not move is identical in the two. Returns (image_a, image_b, look_a,
    look_b, landmarks_a, landmarks_b); images are (H, W, 3) float32 in [0, 1].
    """
    rng = np.random.default_rng(seed)
    app = EyeAppearance.random(rng)
    look_a = random_look(rng, max_angle)
    look_b = replace(
        look_a,
        yaw=float(rng.uniform(-max_angle, max_angle)),
        pitch=float(rng.uniform(-max_angle, max_angle)),
    )
    noise_seed = int(rng.integers(0, 2**31 - 1))
    img_a, lm_a = render_eye(app, look_a, size, noise_seed)
    img_b, lm_b = render_eye(app, look_b, size, noise_seed)
    return img_a, img_b, look_a, look_b, lm_a, lm_b
