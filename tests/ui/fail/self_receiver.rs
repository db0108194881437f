struct Gateway;

impl Gateway {
    #[lmms::operation]
    fn forecast(&self, days: u8) -> u8 { days }
}

fn main() {}
