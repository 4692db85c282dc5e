//! A braille scatter: points binned into terminal cells of 2x4 dots and drawn as braille
//! characters (bullets when braille is off), each cell in the ink of the last point put there.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

/// Braille dot bits by (row within the cell, column within the cell).
const BRAILLE_BITS: [[u8; 2]; 4] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]];

/// Points binned into `width` x `height` cells: dot bits and an ink per cell.
#[derive(Debug, Clone, PartialEq)]
pub struct BrailleGrid<I> {
    pub width: u16,
    pub height: u16,
    pub dots: Vec<u8>,
    pub ink: Vec<I>,
}

impl<I> Default for BrailleGrid<I> {
    fn default() -> Self {
        Self {
            width: 0,
            height: 0,
            dots: Vec::new(),
            ink: Vec::new(),
        }
    }
}

impl<I: Copy> BrailleGrid<I> {
    /// Empties every cell (to `blank` ink), sized `width` x `height`.
    pub fn clear(&mut self, blank: I) {
        let cells = usize::from(self.width) * usize::from(self.height);
        self.dots.clear();
        self.dots.resize(cells, 0);
        self.ink.clear();
        self.ink.resize(cells, blank);
    }

    /// Dots across and down (2 and 4 per cell).
    pub fn dot_size(&self) -> (usize, usize) {
        (2 * usize::from(self.width), 4 * usize::from(self.height))
    }

    /// Sets dot (`px`, `py`) (from the top left) and inks its cell; dots outside are ignored.
    pub fn plot(&mut self, px: usize, py: usize, ink: I) {
        let (dw, dh) = self.dot_size();
        if px >= dw || py >= dh {
            return;
        }
        let cell = (py / 4) * usize::from(self.width) + px / 2;
        self.dots[cell] |= BRAILLE_BITS[py % 4][px % 2];
        self.ink[cell] = ink;
    }

    /// The dots and ink of cell (x, y), None when empty or outside.
    pub fn cell(&self, x: u16, y: u16) -> Option<(u8, I)> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = usize::from(y) * usize::from(self.width) + usize::from(x);
        (self.dots[i] != 0).then(|| (self.dots[i], self.ink[i]))
    }

    /// Draws the non-empty cells into `area` of `buf`, each in the style of its ink.
    pub fn render(&self, buf: &mut Buffer, area: Rect, braille: bool, style: impl Fn(I) -> Style) {
        for y in 0..area.height.min(self.height) {
            for x in 0..area.width.min(self.width) {
                if let Some((dots, ink)) = self.cell(x, y) {
                    let ch = if braille {
                        char::from_u32(0x2800 + u32::from(dots)).unwrap_or('•')
                    } else {
                        '•'
                    };
                    buf[(area.x + x, area.y + y)]
                        .set_char(ch)
                        .set_style(style(ink));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_land_in_their_cell_and_outside_ones_are_ignored() {
        let mut g = BrailleGrid {
            width: 2,
            height: 1,
            ..Default::default()
        };
        g.clear(0u8);
        g.plot(0, 0, 1);
        g.plot(3, 3, 2);
        g.plot(4, 0, 3);
        g.plot(0, 4, 3);
        assert_eq!(g.cell(0, 0), Some((0x01, 1)));
        assert_eq!(g.cell(1, 0), Some((0x80, 2)));
        assert_eq!(g.cell(2, 0), None);
        let mut buf = Buffer::empty(Rect::new(0, 0, 2, 1));
        let area = buf.area;
        g.render(&mut buf, area, true, |_| Style::default());
        assert_eq!(buf[(0, 0)].symbol(), "⠁");
        assert_eq!(buf[(1, 0)].symbol(), "⢀");
    }
}
